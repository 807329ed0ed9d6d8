-- The search queries that most often found nothing over [@start_date, @end_date].
SELECT
  query,
  SUM(zero_result_searches) AS zero_result_searches,
  SUM(searches) AS searches
FROM search_daily
WHERE date BETWEEN @start_date AND @end_date
GROUP BY query
HAVING SUM(zero_result_searches) > 0
ORDER BY zero_result_searches DESC, query
LIMIT @limit
