-- sm kernel schema 003: the input fingerprint of the stored scan (walked paths, claimed files'
-- sizes and mtimes, request, extensions, settings). `sm scan --changed` compares it with the
-- current walk's and, when equal, reuses the stored result without reading the cache.
ALTER TABLE scan_meta ADD COLUMN input_fingerprint TEXT;
