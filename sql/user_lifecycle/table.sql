CREATE TABLE IF NOT EXISTS user_lifecycle (
  date DATE NOT NULL,                 -- the day the user entered `stage`
  user_id STRING NOT NULL,            -- COALESCE(events.user_id, events.anonymous_id)
  stage STRING NOT NULL,              -- lead, activated, customer or churned
  previous_stage STRING NOT NULL,     -- the stage before; 'new' on the user's first day
  signed_up BOOL NOT NULL,            -- has a signup event by the end of `date`
  paid BOOL NOT NULL,                 -- has had a transaction by the end of `date`
  updated_at TIMESTAMP NOT NULL
);
