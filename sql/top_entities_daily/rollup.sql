-- top_entities_daily for @start_date..@end_date (UTC days): each event counts once for every one
-- of provider_id, product_id and course_id its properties name.
BEGIN TRANSACTION;

DELETE FROM top_entities_daily WHERE date BETWEEN @start_date AND @end_date;

INSERT INTO top_entities_daily (
  date, dimension, entity, events, revenue, ratings, avg_rating, updated_at
)
WITH deduped AS (
  SELECT
    DATE(`timestamp`) AS date,
    IF(currency = @reporting_currency, revenue, NULL) AS revenue,
    JSON_VALUE(properties, '$.provider_id') AS provider_id,
    JSON_VALUE(properties, '$.product_id') AS product_id,
    JSON_VALUE(properties, '$.course_id') AS course_id,
    IF(event_type = 'review', SAFE_CAST(JSON_VALUE(properties, '$.rating') AS FLOAT64), NULL)
      AS rating
  FROM events
  WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
  {{ first_copy }}
),
entity_events AS (
  -- One row per event and dimension.
  SELECT
    date,
    dimension,
    CASE dimension
      WHEN 'provider_id' THEN provider_id
      WHEN 'product_id' THEN product_id
      WHEN 'course_id' THEN course_id
    END AS entity,
    revenue,
    rating
  FROM deduped
  CROSS JOIN UNNEST(['provider_id', 'product_id', 'course_id']) AS dimension
)
SELECT
  date,
  dimension,
  entity,
  COUNT(*),
  ROUND(COALESCE(SUM(revenue), 0), 6),  -- rounded so re-runs write identical rows
  COUNT(rating),
  AVG(rating),
  CURRENT_TIMESTAMP()
FROM entity_events
WHERE entity IS NOT NULL
GROUP BY date, dimension, entity;

COMMIT TRANSACTION;
