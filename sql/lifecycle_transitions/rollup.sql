-- lifecycle_transitions for @start_date..@end_date (UTC days), counted from user_lifecycle (run
-- user_lifecycle first).
BEGIN TRANSACTION;

DELETE FROM lifecycle_transitions WHERE date BETWEEN @start_date AND @end_date;

INSERT INTO lifecycle_transitions (date, from_stage, to_stage, users, updated_at)
SELECT date, previous_stage, stage, COUNT(*), CURRENT_TIMESTAMP()
FROM user_lifecycle
WHERE date BETWEEN @start_date AND @end_date
GROUP BY date, previous_stage, stage;

COMMIT TRANSACTION;
