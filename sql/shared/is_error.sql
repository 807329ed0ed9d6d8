-- An error event: an error_type is set, or the call reports success = FALSE (docs/events.md).
-- NULL success is not an error. {{ is_error }}.
(error_type IS NOT NULL OR success IS FALSE)
