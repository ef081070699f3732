-- sm kernel schema 004: `scan_node_cache.detections_json` holds links in a compact form (one JSON
-- array per link, without the source, which is the row's path). Rows in the old form are dropped;
-- the next incremental scan reads every file again and rewrites them.
DELETE FROM scan_node_cache;
