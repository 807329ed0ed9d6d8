-- Bytes billed by each dashboard query, written in batches by the query function.
-- The alerts function sums a day of it for the local cost check (BigQuery has INFORMATION_SCHEMA.JOBS).
CREATE TABLE IF NOT EXISTS query_costs (
  ts TIMESTAMP NOT NULL,              -- when the query ran
  endpoint STRING NOT NULL,           -- report name: kpis, funnel, realtime, ...
  bytes_billed INT64 NOT NULL         -- QueryResult.bytes_billed of that one query
)
PARTITION BY DATE(ts)
OPTIONS (require_partition_filter = TRUE);
