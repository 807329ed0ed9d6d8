-- user_days for @start_date..@end_date (UTC days): each user's active days of the range, with
-- whether the day had a signup and a payment. De-duplication is not needed: copies of an event
-- change no flag of a user's day.
BEGIN TRANSACTION;

DELETE FROM user_days WHERE date BETWEEN @start_date AND @end_date;

INSERT INTO user_days (date, user_id, signup, payment, updated_at)
SELECT
  DATE(`timestamp`),
  {{ user_key }},
  LOGICAL_OR({{ is_signup }}),
  LOGICAL_OR({{ is_payment }}),
  CURRENT_TIMESTAMP()
FROM events
WHERE DATE(`timestamp`) BETWEEN @start_date AND @end_date
  AND {{ user_key }} IS NOT NULL
GROUP BY 1, 2;

COMMIT TRANSACTION;
