CREATE TABLE IF NOT EXISTS user_days (
  date DATE NOT NULL,                 -- a UTC day on which the user had an event
  user_id STRING NOT NULL,            -- COALESCE(events.user_id, events.anonymous_id)
  signup BOOL NOT NULL,               -- a signup that day (sql/shared/is_signup.sql)
  payment BOOL NOT NULL,              -- a transaction that day (sql/shared/is_payment.sql)
  updated_at TIMESTAMP NOT NULL
);
