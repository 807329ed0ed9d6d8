CREATE TABLE IF NOT EXISTS daily_kpis (
  date DATE NOT NULL,                 -- UTC day of the corrected event time
  events INT64 NOT NULL,              -- de-duplicated events
  active_users INT64 NOT NULL,        -- DAU: distinct COALESCE(user_id, anonymous_id) that day
  wau INT64 NOT NULL,                 -- distinct users over the 7 days ending on `date`
  mau INT64 NOT NULL,                 -- distinct users over the 28 days ending on `date`
  new_users INT64 NOT NULL,           -- users whose first event ever (user_first_seen) is that day
  sessions INT64 NOT NULL,            -- distinct session_id
  revenue FLOAT64 NOT NULL,           -- payments minus refunds, reporting currency only
  transactions INT64 NOT NULL,        -- events with revenue > 0 in the reporting currency
  avg_order_value FLOAT64,            -- gross payments / transactions; NULL without transactions
  platform_fees FLOAT64 NOT NULL,     -- sum of properties.platform_fee of those payments
  avg_rating FLOAT64,                 -- mean properties.rating of review events; NULL without
  error_events INT64 NOT NULL,        -- events with error_type set or success = FALSE
  error_rate FLOAT64,                 -- error_events / events; NULL on a day without events
  api_p50_ms FLOAT64,                 -- approximate median duration_ms of api_call events
  api_p95_ms FLOAT64,                 -- approximate 95th percentile of the same
  paying_users INT64 NOT NULL,        -- users with a transaction that day
  conversion_rate FLOAT64,            -- paying_users / active_users; NULL without active users
  currency STRING NOT NULL,           -- the reporting currency the money columns are in
  updated_at TIMESTAMP NOT NULL       -- when the rollup wrote the row
);
