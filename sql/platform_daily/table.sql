CREATE TABLE IF NOT EXISTS platform_daily (
  date DATE NOT NULL,
  platform STRING NOT NULL,           -- events.platform; 'unknown' when absent
  users INT64 NOT NULL,               -- distinct users
  events INT64 NOT NULL,              -- "actions": every de-duplicated event
  error_events INT64 NOT NULL,        -- error_type set or success = FALSE
  success_rate FLOAT64 NOT NULL,      -- 1 - error_events / events
  api_p50_ms FLOAT64,                 -- approximate median duration_ms of api_call events
  api_p95_ms FLOAT64,
  updated_at TIMESTAMP NOT NULL
);
