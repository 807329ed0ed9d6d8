-- Top entities (providers, products, courses, ...) of one property over [@start_date, @end_date].
-- @by is the property name and @metric picks the ranking; both are values, never SQL text.
WITH entity AS (
  SELECT
    entity,
    SUM(events) AS events,
    SUM(revenue) AS revenue,
    SUM(ratings) AS ratings,
    -- mean rating over every rating of the window, not a mean of daily means
    SAFE_DIVIDE(SUM(avg_rating * ratings), SUM(IF(avg_rating IS NULL, 0, ratings))) AS avg_rating
  FROM top_entities_daily
  WHERE date BETWEEN @start_date AND @end_date
    AND dimension = @by
  GROUP BY entity
)
SELECT entity, events, revenue, ratings, avg_rating
FROM entity
WHERE @metric != 'rating' OR ratings > 0
ORDER BY
  CASE @metric
    WHEN 'revenue' THEN revenue
    WHEN 'events' THEN CAST(events AS FLOAT64)
    ELSE avg_rating
  END DESC,
  events DESC,
  entity
LIMIT @limit
