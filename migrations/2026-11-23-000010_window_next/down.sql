DROP FUNCTION environment_window_next_open(environments, TIMESTAMPTZ);
