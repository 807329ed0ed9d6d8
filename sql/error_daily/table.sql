CREATE TABLE IF NOT EXISTS error_daily (
  date DATE NOT NULL,
  error_type STRING NOT NULL,         -- events.error_type; 'unknown' for success = FALSE without one
  events INT64 NOT NULL,
  affected_users INT64 NOT NULL,      -- distinct users with that error that day
  updated_at TIMESTAMP NOT NULL
);
