ALTER INDEX releases_search_words_idx RESET (fastupdate);
