-- Whether the report of one period was already mailed (the job may run more than once).
SELECT COUNT(*) AS sent
FROM report_log
WHERE period_start = @period_start
  AND period = @period
  AND sent
