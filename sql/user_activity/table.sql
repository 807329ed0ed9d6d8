CREATE TABLE IF NOT EXISTS user_activity (
  user_id STRING NOT NULL,            -- COALESCE(user_id, anonymous_id), as in user_first_seen
  first_seen_date DATE NOT NULL,      -- the user's first_seen_date when the row was written
  active_dates ARRAY<DATE>,           -- the days of first_seen_date .. +90 with an event, ascending
  run_id STRING NOT NULL,             -- the rollup run that wrote the row (see rollup.sql)
  updated_at TIMESTAMP NOT NULL
);
