-- Release search by trigrams read most of the index for a version such as
-- `38.0.1`: pg_trgm splits text into words at every character that is not
-- a letter or digit, so the pattern asked for the words `38`, `0` and `1`,
-- and the trigrams of `0` and `1` are in nearly every version (930 buffers,
-- 7 ms, at 100,000 releases). Indexed with its punctuation made a letter,
-- `38.0.1` is one word (`38x0x1`) whose trigrams are rare (28 buffers,
-- 0.2 ms). The mapping only widens what the index offers: the search still
-- checks `ILIKE` on the columns, so what matches is unchanged.
CREATE FUNCTION release_search_text(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN translate(lower(value), '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~',
                     'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx');

-- What a user typed, as an infix LIKE pattern over the same text: the
-- LIKE metacharacters (% _ \) are mapped too, so nothing needs escaping.
CREATE FUNCTION release_search_pattern(typed text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN '%' || release_search_text(typed) || '%';

-- Kept, not computed per row: a search tests it on every release it walks
-- and on every row the index offers (the index's recheck), and a plain
-- LIKE on a stored column is several times cheaper than lower() and
-- translate() twice, or than ILIKE.
ALTER TABLE releases ADD COLUMN search_words text NOT NULL
    GENERATED ALWAYS AS (release_search_text(version) || E'\n' || release_search_text(title)) STORED;

CREATE INDEX releases_search_words_idx ON releases USING gin (search_words gin_trgm_ops);
DROP INDEX releases_search_idx;
