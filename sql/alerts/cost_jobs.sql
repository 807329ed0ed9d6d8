-- Bytes billed by this project's BigQuery jobs in [@since, @until). `{location}` is the
-- dataset location (BEACON_BIGQUERY_LOCATION, lower case), which cannot be a parameter; the
-- view is partitioned by creation_time, so the time filter is also its partition filter.
SELECT
  COALESCE(SUM(total_bytes_billed), 0) AS bytes_billed,
  COUNT(*) AS jobs
FROM `region-{location}`.INFORMATION_SCHEMA.JOBS
WHERE creation_time >= @since
  AND creation_time < @until
  AND job_type = 'QUERY'
