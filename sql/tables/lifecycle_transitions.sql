-- Lifecycle flows for the Sankey panel: per UTC day, how many users moved from one stage to
-- another (stages defined in sql/tables/user_lifecycle.sql; from_stage 'new' is a first visit).
-- Days without a change have no row. Written by sql/rollups/lifecycle_transitions.sql.
CREATE TABLE IF NOT EXISTS lifecycle_transitions (
  date DATE NOT NULL,
  from_stage STRING NOT NULL,         -- new, lead, activated, customer or churned
  to_stage STRING NOT NULL,           -- lead, activated, customer or churned
  users INT64 NOT NULL,
  updated_at TIMESTAMP NOT NULL
)
PARTITION BY date
OPTIONS (require_partition_filter = TRUE);
