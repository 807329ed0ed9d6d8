CREATE TABLE IF NOT EXISTS privacy_log (
  request_id STRING NOT NULL,         -- random id, also returned to the caller
  requested_at TIMESTAMP NOT NULL,
  action STRING NOT NULL,             -- delete or export
  user_hash STRING NOT NULL,          -- SHA-256 hex of the user id
  status STRING NOT NULL,             -- done, or rollups_failed (raw rows gone, rollups stale)
  counts JSON,                        -- rows deleted or exported, per table
  first_day DATE,                     -- the range of days whose rollups were recomputed
  last_day DATE
);
