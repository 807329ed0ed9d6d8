-- The milestones (user_milestones) a user_days row reached, one row each, as the milestone
-- column: signup, payment, or NULL for neither (filter on it). {{ day_milestones }}.
UNNEST([IF(signup, 'signup', NULL), IF(payment, 'payment', NULL)]) AS milestone
