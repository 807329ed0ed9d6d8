-- The event that makes a user activated in the lifecycle (user_lifecycle/table.sql). {{ is_signup }}.
(event_type = 'signup')
