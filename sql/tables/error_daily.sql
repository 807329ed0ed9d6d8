-- Error events per UTC day and error type. Written by sql/rollups/error_daily.sql.
CREATE TABLE IF NOT EXISTS error_daily (
  date DATE NOT NULL,
  error_type STRING NOT NULL,         -- events.error_type; 'unknown' for success = FALSE without one
  events INT64 NOT NULL,
  affected_users INT64 NOT NULL,      -- distinct users with that error that day
  updated_at TIMESTAMP NOT NULL
)
PARTITION BY date
CLUSTER BY error_type
OPTIONS (require_partition_filter = TRUE);
