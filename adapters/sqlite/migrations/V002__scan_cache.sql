-- sm kernel schema 002: what incremental scans (`sm scan --changed`, `sm watch`) reuse.
-- One row per node: the file's size and mtime when it was read, where its body starts, the raw
-- output of every detector on it (before links are merged), and its file-level issues.
CREATE TABLE scan_node_cache (
    path               TEXT    PRIMARY KEY NOT NULL,
    file_size          INTEGER NOT NULL CHECK (file_size >= 0),
    file_mtime_ms      INTEGER NOT NULL,
    body_start_line    INTEGER NOT NULL CHECK (body_start_line >= 1),
    detections_json    TEXT    NOT NULL DEFAULT '{}',
    file_issues_json   TEXT    NOT NULL DEFAULT '[]'
);

-- Hash of every node path, node name and walked file: when it changes, detectors that resolve
-- against the whole graph must see unchanged files again.
ALTER TABLE scan_meta ADD COLUMN index_fingerprint TEXT;
