-- sm kernel schema 001: the three zones.
--   scan_*   regenerable: replaced by every persisted scan
--   state_*  survives scans: jobs, executions, summaries, enrichment, plugin KV
--   config_* plugin toggles, preferences, the migration ledger
-- Conventions: snake_case, *_json columns hold JSON text, *_at columns hold unix milliseconds.

CREATE TABLE scan_nodes (
    path                TEXT    PRIMARY KEY NOT NULL,
    kind                TEXT    NOT NULL CHECK (length(kind) > 0),
    adapter             TEXT    NOT NULL,
    title               TEXT,
    description         TEXT,
    stability           TEXT    CHECK (stability IN ('experimental', 'stable', 'deprecated')),
    version             TEXT,
    author              TEXT,
    frontmatter_json    TEXT    NOT NULL DEFAULT '{}',
    body_hash           TEXT    NOT NULL CHECK (length(body_hash) = 64),
    frontmatter_hash    TEXT    NOT NULL CHECK (length(frontmatter_hash) = 64),
    bytes_frontmatter   INTEGER NOT NULL CHECK (bytes_frontmatter >= 0),
    bytes_body          INTEGER NOT NULL CHECK (bytes_body >= 0),
    bytes_total         INTEGER NOT NULL CHECK (bytes_total >= 0),
    tokens_frontmatter  INTEGER CHECK (tokens_frontmatter >= 0),
    tokens_body         INTEGER CHECK (tokens_body >= 0),
    tokens_total        INTEGER CHECK (tokens_total >= 0),
    links_out_count     INTEGER NOT NULL DEFAULT 0 CHECK (links_out_count >= 0),
    links_in_count      INTEGER NOT NULL DEFAULT 0 CHECK (links_in_count >= 0),
    external_refs_count INTEGER NOT NULL DEFAULT 0 CHECK (external_refs_count >= 0),
    scanned_at          INTEGER NOT NULL
);
CREATE INDEX ix_scan_nodes_kind ON scan_nodes (kind);
CREATE INDEX ix_scan_nodes_adapter ON scan_nodes (adapter);
CREATE INDEX ix_scan_nodes_body_hash ON scan_nodes (body_hash);

CREATE TABLE scan_links (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    source_path         TEXT    NOT NULL,
    target_path         TEXT    NOT NULL,
    kind                TEXT    NOT NULL CHECK (kind IN ('invokes', 'references', 'mentions', 'supersedes')),
    confidence          TEXT    NOT NULL CHECK (confidence IN ('high', 'medium', 'low')),
    sources_json        TEXT    NOT NULL DEFAULT '[]',
    original_trigger    TEXT,
    normalized_trigger  TEXT,
    location_line       INTEGER CHECK (location_line >= 1),
    location_column     INTEGER CHECK (location_column >= 1),
    location_offset     INTEGER CHECK (location_offset >= 0),
    raw                 TEXT
);
CREATE INDEX ix_scan_links_source_path ON scan_links (source_path);
CREATE INDEX ix_scan_links_target_path ON scan_links (target_path);
CREATE INDEX ix_scan_links_normalized_trigger ON scan_links (normalized_trigger);

CREATE TABLE scan_issues (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id             TEXT    NOT NULL,
    severity            TEXT    NOT NULL CHECK (severity IN ('error', 'warn', 'info')),
    node_ids_json       TEXT    NOT NULL DEFAULT '[]',
    link_indices_json   TEXT,
    message             TEXT    NOT NULL,
    detail              TEXT,
    fix_json            TEXT,
    data_json           TEXT
);
CREATE INDEX ix_scan_issues_rule_id ON scan_issues (rule_id);
CREATE INDEX ix_scan_issues_severity ON scan_issues (severity);

CREATE TABLE scan_meta (
    id                       INTEGER PRIMARY KEY CHECK (id = 1),
    scope                    TEXT    NOT NULL CHECK (scope IN ('project', 'global')),
    roots_json               TEXT    NOT NULL,
    scanned_at               INTEGER NOT NULL,
    scanned_by_name          TEXT,
    scanned_by_version       TEXT,
    scanned_by_spec_version  TEXT,
    adapters_json            TEXT    NOT NULL DEFAULT '[]',
    stats_files_walked       INTEGER NOT NULL DEFAULT 0,
    stats_files_skipped      INTEGER NOT NULL DEFAULT 0,
    stats_duration_ms        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE state_jobs (
    id                  TEXT    PRIMARY KEY NOT NULL,
    action_id           TEXT    NOT NULL,
    action_version      TEXT    NOT NULL,
    node_id             TEXT    NOT NULL,
    content_hash        TEXT    NOT NULL,
    nonce               TEXT    NOT NULL,
    priority            INTEGER NOT NULL DEFAULT 0,
    status              TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    failure_reason      TEXT    CHECK (failure_reason IN ('runner-error', 'report-invalid', 'timeout', 'abandoned', 'job-file-missing', 'user-cancelled')),
    runner              TEXT    CHECK (runner IN ('cli', 'skill', 'in-process')),
    ttl_seconds         INTEGER NOT NULL CHECK (ttl_seconds >= 1),
    created_at          INTEGER NOT NULL,
    claimed_at          INTEGER,
    finished_at         INTEGER,
    expires_at          INTEGER,
    submitted_by        TEXT
);
CREATE UNIQUE INDEX ux_state_jobs_active ON state_jobs (action_id, node_id, content_hash)
    WHERE status IN ('queued', 'running');
CREATE INDEX ix_state_jobs_status ON state_jobs (status);

CREATE TABLE state_executions (
    id                  TEXT    PRIMARY KEY NOT NULL,
    kind                TEXT    NOT NULL CHECK (kind IN ('action', 'audit')),
    extension_id        TEXT    NOT NULL,
    extension_version   TEXT    NOT NULL,
    node_ids_json       TEXT    NOT NULL DEFAULT '[]',
    content_hash        TEXT,
    status              TEXT    NOT NULL CHECK (status IN ('completed', 'failed', 'cancelled')),
    failure_reason      TEXT    CHECK (failure_reason IN ('runner-error', 'report-invalid', 'timeout', 'abandoned', 'job-file-missing', 'user-cancelled')),
    exit_code           INTEGER,
    runner              TEXT    CHECK (runner IN ('cli', 'skill', 'in-process')),
    started_at          INTEGER NOT NULL,
    finished_at         INTEGER NOT NULL,
    duration_ms         INTEGER CHECK (duration_ms >= 0),
    tokens_in           INTEGER CHECK (tokens_in >= 0),
    tokens_out          INTEGER CHECK (tokens_out >= 0),
    report_json         TEXT,
    job_id              TEXT
);
CREATE INDEX ix_state_executions_extension_id ON state_executions (extension_id);
CREATE INDEX ix_state_executions_started_at ON state_executions (started_at);
CREATE INDEX ix_state_executions_job_id ON state_executions (job_id);

CREATE TABLE state_summaries (
    node_id                  TEXT    NOT NULL,
    summarizer_action_id     TEXT    NOT NULL,
    kind                     TEXT    NOT NULL,
    summarizer_version       TEXT    NOT NULL,
    body_hash_at_generation  TEXT    NOT NULL,
    generated_at             INTEGER NOT NULL,
    summary_json             TEXT    NOT NULL,
    PRIMARY KEY (node_id, summarizer_action_id)
);

CREATE TABLE state_enrichment (
    node_id             TEXT    NOT NULL,
    provider_id         TEXT    NOT NULL,
    data_json           TEXT    NOT NULL,
    verified            INTEGER CHECK (verified IN (0, 1)),
    fetched_at          INTEGER NOT NULL,
    stale_after         INTEGER,
    PRIMARY KEY (node_id, provider_id)
);

CREATE TABLE state_plugin_kv (
    plugin_id           TEXT    NOT NULL,
    node_id             TEXT    NOT NULL DEFAULT '',
    key                 TEXT    NOT NULL CHECK (length(key) BETWEEN 1 AND 256),
    value_json          TEXT    NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (plugin_id, node_id, key)
);

CREATE TABLE config_plugins (
    plugin_id           TEXT    PRIMARY KEY NOT NULL,
    enabled             INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    config_json         TEXT,
    updated_at          INTEGER NOT NULL
);

CREATE TABLE config_preferences (
    key                 TEXT    PRIMARY KEY NOT NULL,
    value_json          TEXT    NOT NULL,
    updated_at          INTEGER NOT NULL
);

CREATE TABLE config_schema_versions (
    scope               TEXT    NOT NULL CHECK (scope IN ('kernel', 'plugin')),
    owner_id            TEXT    NOT NULL,
    version             INTEGER NOT NULL CHECK (version >= 1),
    description         TEXT    NOT NULL,
    applied_at          INTEGER NOT NULL,
    PRIMARY KEY (scope, owner_id, version)
);
