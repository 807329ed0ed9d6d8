-- Revenue in @currency from midnight to the time of day of @now, today (weeks_ago = 0) and on
-- the same weekday of each of the previous @weeks weeks. The partition filter lists exactly
-- those days, so a run reads @weeks + 1 partitions, not the whole span between them.
WITH payments AS (
  SELECT `timestamp`, revenue
  FROM events
  WHERE DATE(`timestamp`) IN UNNEST(
      GENERATE_DATE_ARRAY(DATE_SUB(@today, INTERVAL 7 * @weeks DAY), @today, INTERVAL 7 DAY)
    )
    AND TIMESTAMP_DIFF(`timestamp`, TIMESTAMP_TRUNC(`timestamp`, DAY), SECOND) < @seconds_into_day
    AND revenue IS NOT NULL
    AND currency = @currency
  {{ first_copy }}
)
SELECT
  DIV(DATE_DIFF(@today, DATE(`timestamp`), DAY), 7) AS weeks_ago,
  SUM(revenue) AS revenue,
  COUNTIF(revenue > 0) AS transactions  -- a transaction is an event with revenue > 0
FROM payments
GROUP BY weeks_ago
