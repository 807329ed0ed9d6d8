CREATE TABLE IF NOT EXISTS user_milestones (
  user_id STRING NOT NULL,            -- COALESCE(events.user_id, events.anonymous_id)
  milestone STRING NOT NULL,          -- signup or payment (sql/shared/is_*.sql)
  first_date DATE NOT NULL,           -- the UTC day of the user's first such event
  updated_at TIMESTAMP NOT NULL
);
