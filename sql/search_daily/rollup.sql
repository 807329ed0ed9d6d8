-- search_daily for @start_date..@end_date (UTC days): `search` events by normalised query text.
BEGIN TRANSACTION;

DELETE FROM search_daily WHERE date BETWEEN @start_date AND @end_date;

INSERT INTO search_daily (
  date, query, searches, zero_result_searches, avg_results, p50_ms, updated_at
)
WITH searches AS (
  SELECT
    DATE(`timestamp`) AS date,
    -- "Shoes " and "shoes" are one query for the top-queries panel.
    LOWER(TRIM(COALESCE(JSON_VALUE(properties, '$.query'), ''))) AS query,
    SAFE_CAST(JSON_VALUE(properties, '$.result_count') AS INT64) AS result_count,
    duration_ms
  FROM events
  WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
    AND event_type = 'search'
  {{ first_copy }}
)
SELECT
  date,
  query,
  COUNT(*),
  COUNTIF(COALESCE(result_count = 0, FALSE)),
  AVG(result_count),
  APPROX_QUANTILES(duration_ms, 100)[OFFSET(50)],
  CURRENT_TIMESTAMP()
FROM searches
GROUP BY date, query;

COMMIT TRANSACTION;
