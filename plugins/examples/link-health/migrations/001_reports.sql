-- link-health keeps one row per audit run, to report the trend.
CREATE TABLE plugin_link_health_reports (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    nodes   INTEGER NOT NULL,
    broken  INTEGER NOT NULL,
    score   INTEGER NOT NULL
);
CREATE INDEX plugin_link_health_reports_score ON plugin_link_health_reports (score);
