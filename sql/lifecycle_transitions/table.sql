CREATE TABLE IF NOT EXISTS lifecycle_transitions (
  date DATE NOT NULL,
  from_stage STRING NOT NULL,         -- new, lead, activated, customer or churned
  to_stage STRING NOT NULL,           -- lead, activated, customer or churned
  users INT64 NOT NULL,
  updated_at TIMESTAMP NOT NULL
);
