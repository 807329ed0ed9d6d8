CREATE TABLE IF NOT EXISTS revenue_daily (
  date DATE NOT NULL,
  currency STRING NOT NULL,           -- ISO 4217; 'unknown' when an event carried none
  platform STRING NOT NULL,           -- events.platform; 'unknown' when absent
  revenue FLOAT64 NOT NULL,           -- payments minus refunds (net)
  transactions INT64 NOT NULL,        -- events with revenue > 0
  refunds INT64 NOT NULL,             -- events with revenue < 0
  refunded FLOAT64 NOT NULL,          -- money returned by those refunds, as a positive amount
  paying_users INT64 NOT NULL,        -- users with a transaction in that currency and platform
  platform_fees FLOAT64 NOT NULL,     -- sum of properties.platform_fee of the transactions
  updated_at TIMESTAMP NOT NULL
);
