"""The one retry pause of Beacon: exponential backoff, doubling from `base`, capped.

The local queue's redeliveries, the alert mailer's SMTP attempts and the demo sender's retries
all wait this long after their Nth failed attempt.
"""

from __future__ import annotations

import math


def backoff_delay(attempt: int, base: float, cap: float = math.inf) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): base, 2 base, 4 base..."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))
