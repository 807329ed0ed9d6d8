-- The UTC day of each user's first event, for new users and cohorts. sql/rollups/user_first_seen.sql
-- maintains it incrementally: a run adds the users first seen in its range and moves a user earlier
-- when a backfill finds an older event; it never needs to read events before its range.
-- Not partition-filtered: the rollups look users up by id across all days.
CREATE TABLE IF NOT EXISTS user_first_seen (
  user_id STRING NOT NULL,            -- COALESCE(events.user_id, events.anonymous_id)
  first_seen_date DATE NOT NULL,
  updated_at TIMESTAMP NOT NULL
)
PARTITION BY first_seen_date
CLUSTER BY user_id;
