CREATE TABLE IF NOT EXISTS query_costs (
  ts TIMESTAMP NOT NULL,              -- when the query ran
  endpoint STRING NOT NULL,           -- report name: kpis, funnel, realtime, ...
  bytes_billed INT64 NOT NULL         -- QueryResult.bytes_billed of that one query
);
