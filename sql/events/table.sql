CREATE TABLE IF NOT EXISTS events (
  event_id STRING NOT NULL,           -- client id, or a server-assigned UUID; the de-duplication key
  event_type STRING NOT NULL,
  `timestamp` TIMESTAMP NOT NULL,     -- corrected event time: client time + (received_at - sent_at)
  client_timestamp TIMESTAMP,         -- event time as the client sent it
  sent_at TIMESTAMP,                  -- when the client sent the request, by its own clock
  received_at TIMESTAMP NOT NULL,     -- when ingest received the request, by the server clock
  loaded_at TIMESTAMP NOT NULL,       -- when the load function wrote the row
  source STRING NOT NULL,             -- name of the write key's source
  user_id STRING,
  anonymous_id STRING,
  session_id STRING,
  platform STRING,
  app_version STRING,
  category STRING,
  properties JSON,
  page_url STRING,
  referrer STRING,
  user_agent STRING,
  locale STRING,
  ip STRING,                          -- anonymised before storage (IPv4 /24, IPv6 /48)
  browser STRING,
  os STRING,
  device STRING,                      -- desktop, mobile, tablet, bot or other
  is_bot BOOL,
  revenue FLOAT64,                    -- positive for payments, negative for refunds
  currency STRING,                    -- ISO 4217
  duration_ms FLOAT64,
  success BOOL,
  error_type STRING,
  extra JSON                          -- what another protocol sent that has no column (Segment)
);
