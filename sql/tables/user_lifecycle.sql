-- Each user's lifecycle stage changes, one row per user and UTC day on which the stage changed.
-- Stages, as of the end of a day (N = BEACON_CHURN_DAYS, 30):
--   lead      seen (any event), never signed up, never paid;
--   activated has a `signup` event, never paid;
--   customer  has had a transaction (an event with revenue > 0), ever;
--   churned   was seen before, but has no event in the last N days (the N days ending that day):
--             a user whose last event is on day L churns on day L + N.
-- A churned user who comes back returns to lead, activated or customer by their history.
-- The current stage of a user is the stage of their latest row. Written by
-- sql/rollups/user_lifecycle.sql. Not partition-filtered: the rollup reads each user's latest
-- earlier row to know their history without reading old events.
CREATE TABLE IF NOT EXISTS user_lifecycle (
  date DATE NOT NULL,                 -- the day the user entered `stage`
  user_id STRING NOT NULL,            -- COALESCE(events.user_id, events.anonymous_id)
  stage STRING NOT NULL,              -- lead, activated, customer or churned
  previous_stage STRING NOT NULL,     -- the stage before; 'new' on the user's first day
  signed_up BOOL NOT NULL,            -- has a signup event by the end of `date`
  paid BOOL NOT NULL,                 -- has had a transaction by the end of `date`
  updated_at TIMESTAMP NOT NULL
)
PARTITION BY date
CLUSTER BY user_id;
