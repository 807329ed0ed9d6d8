-- Bytes billed by the queries the query function ran in [@since, @until), recorded locally.
SELECT
  COALESCE(SUM(bytes_billed), 0) AS bytes_billed,
  COUNT(*) AS jobs
FROM query_costs
WHERE DATE(ts) >= DATE(@since)
  AND ts >= @since
  AND ts < @until
