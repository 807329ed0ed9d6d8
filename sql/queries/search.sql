-- Most frequent search queries over [@start_date, @end_date], with how often they found nothing.
SELECT
  query,
  SUM(searches) AS searches,
  SUM(zero_result_searches) AS zero_result_searches,
  SAFE_DIVIDE(SUM(zero_result_searches), SUM(searches)) AS zero_result_rate,
  -- mean result count weighted by searches; days without counts do not weigh in
  SAFE_DIVIDE(
    SUM(avg_results * searches), SUM(IF(avg_results IS NULL, 0, searches))
  ) AS avg_results,
  SAFE_DIVIDE(SUM(p50_ms * searches), SUM(IF(p50_ms IS NULL, 0, searches))) AS p50_ms
FROM search_daily
WHERE date BETWEEN @start_date AND @end_date
GROUP BY query
ORDER BY searches DESC, query
LIMIT @limit
