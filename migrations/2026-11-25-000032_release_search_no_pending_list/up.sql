-- A GIN index gathers new entries in a pending list and merges them into
-- the index later (at 4 MB, or when autovacuum analyzes the table, which at
-- 100,000 releases is after 10,000 changes). Every search reads the whole
-- pending list: with 6,000 releases made since the last merge, the search
-- for one old version took 2.8 ms of the database per request instead of
-- 1.2 ms (574 against 1,146 req/s, bench/README.md "The search's pending
-- list"), so a search cost more the more releases were made lately.
-- Without the list each new release goes into the index when it is made:
-- about 0.09 ms more per release, paid by the write, not by every search.
ALTER INDEX releases_search_words_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('releases_search_words_idx'::regclass);
