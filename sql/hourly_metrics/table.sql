CREATE TABLE IF NOT EXISTS hourly_metrics (
  hour TIMESTAMP NOT NULL,            -- start of the UTC hour
  events INT64 NOT NULL,
  active_users INT64 NOT NULL,        -- distinct users in that hour
  errors INT64 NOT NULL,              -- error events (error_type set or success = FALSE)
  revenue FLOAT64 NOT NULL,           -- payments minus refunds, reporting currency only
  api_p50_ms FLOAT64,                 -- approximate median duration_ms of api_call events
  api_p95_ms FLOAT64,
  currency STRING NOT NULL,           -- the reporting currency of `revenue`
  updated_at TIMESTAMP NOT NULL
);
