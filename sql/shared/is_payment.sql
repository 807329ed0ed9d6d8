-- A transaction: the event that makes a user a customer in the lifecycle. {{ is_payment }}.
(COALESCE(revenue, 0) > 0)
