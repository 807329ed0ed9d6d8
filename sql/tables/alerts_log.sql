-- One row per alert notification: a check starting to fire, still firing once the cooldown has
-- passed (a reminder), or resolving. A row is written before its mail goes out and `sent` turns
-- TRUE only once the SMTP server accepted it, so an undelivered alert waits here for the next run.
-- Rows are written with DML (not streaming inserts) so that they can be updated at once.
CREATE TABLE IF NOT EXISTS alerts_log (
  alert_id STRING NOT NULL,           -- random id; also the mail's Message-ID
  check_name STRING NOT NULL,         -- error_rate, latency_p95, revenue_drop, cost, silence
  status STRING NOT NULL,             -- firing or resolved
  severity STRING NOT NULL,           -- critical or warning
  metric STRING NOT NULL,             -- what value measures, as in the mail's subject
  value FLOAT64,                      -- the measured figure; NULL when nothing was measured
  threshold FLOAT64,                  -- the limit it was compared with
  figures JSON,                       -- unit, direction, episode start and the check's details
  fired_at TIMESTAMP NOT NULL,        -- when the alerts run wrote the row
  sent BOOL NOT NULL,                 -- the SMTP server accepted the mail
  sent_at TIMESTAMP,
  attempts INT64 NOT NULL             -- SMTP delivery attempts so far
)
PARTITION BY DATE(fired_at)
CLUSTER BY check_name
OPTIONS (require_partition_filter = TRUE);
