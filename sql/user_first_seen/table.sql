CREATE TABLE IF NOT EXISTS user_first_seen (
  user_id STRING NOT NULL,            -- COALESCE(events.user_id, events.anonymous_id)
  first_seen_date DATE NOT NULL,
  updated_at TIMESTAMP NOT NULL
);
