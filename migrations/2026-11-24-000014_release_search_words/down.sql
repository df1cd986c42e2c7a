CREATE INDEX releases_search_idx ON releases USING gin (version gin_trgm_ops, title gin_trgm_ops);
DROP INDEX releases_search_words_idx;
ALTER TABLE releases DROP COLUMN search_words;
DROP FUNCTION release_search_pattern(text);
DROP FUNCTION release_search_text(text);
