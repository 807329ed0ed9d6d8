-- Events received since @since, and the latest receipt time. Partitions are by event time,
-- which trails receipt by client clock skew; a day of margin covers it.
SELECT
  COUNTIF(received_at >= @since) AS events_in_window,
  MAX(received_at) AS last_received_at
FROM events
WHERE DATE(`timestamp`) >= DATE_SUB(DATE(@since), INTERVAL 1 DAY)
  AND received_at <= @until
