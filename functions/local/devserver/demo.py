"""Realistic demo events, following docs/events.md: a pure, seeded generator without I/O.

Three products share one Beacon: a home-services marketplace (jobs, provider quotes, payments with a
platform fee, reviews), an online shop (orders of products) and a mentoring platform (course
bookings with mentors). Visitors arrive over the last six weeks, more of them on recent days; some
stay anonymous (leads), some sign up (activated), some pay (customers) and some stop coming back
(churned), so every dashboard panel, cohort and lifecycle stage has something to show.

`live_events` continues that history in real time: an endless stream stamped from a start time on,
which begins with a deliberate error spike (a backend outage) so the error-rate alert fires once
and resolves as normal traffic dilutes it.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

HISTORY_DAYS = 42
DAILY_GROWTH = 1.035  # new visitors per day grow ~3.5 % a day: recent days are the busiest
MIN_RETURN_GAP_HOURS = 0.5

DEFAULT_LIVE_RATE = 3.0  # live events a second: well over the error-rate check's hourly minimum
SPIKE_SECONDS = 120.0  # the outage at the start of the live stream
# During the outage most API calls fail, fast (a refused upstream, so no latency alert), and the
# clients report some of those failures as errors of their own: about a third of events are
# errors. Normal traffic has about 1.4 %, so the last hour's rate falls back under the default 5 %
# threshold about (0.33 - 0.05) * 2 min / (0.05 - 0.014) = 16 minutes after the spike ends.
SPIKE_API_FAILURE = 0.8
SPIKE_CLIENT_ERROR = 0.3
LIVE_SESSIONS = 6  # visitors browsing at the same moment, so realtime tiles show several users
LIVE_RETURNING = 0.3  # share of live sessions by a visitor seen earlier in the stream
LIVE_KNOWN_VISITORS = 200  # how many earlier visitors may come back


@dataclass(frozen=True)
class Product:
    key: str  # events' `category`
    site: str  # web origin for page URLs
    app: str  # mobile app name in user agents
    order_event: str  # order_created or job_created
    entity: str  # the property naming what was ordered: provider_id, product_id or course_id
    entities: int  # how many providers, products or courses exist
    price_range: tuple[float, float]  # in the reporting currency
    platform_fee: float  # share of a payment the platform keeps
    quotes: bool  # providers send quotes before the customer pays
    reviews: bool
    screens: tuple[str, ...]
    searches: tuple[str, ...]
    weight: float  # share of visitors


PRODUCTS: tuple[Product, ...] = (
    Product(
        key="home_services",
        site="https://homefix.example",
        app="HomeFix",
        order_event="job_created",
        entity="provider_id",
        entities=80,
        price_range=(60.0, 900.0),
        platform_fee=0.12,
        quotes=True,
        reviews=True,
        screens=("home", "search", "provider", "job_form", "quotes", "checkout", "account"),
        searches=(
            "plumber",
            "electrician",
            "boiler repair",
            "house cleaning",
            "painter",
            "gardener",
            "locksmith",
            "roof leak",
            "handyman",
            "pest control",
            "chimney sweep",
            "aquarium maintenance",
        ),
        weight=0.45,
    ),
    Product(
        key="shop",
        site="https://shop.example",
        app="ShopNow",
        order_event="order_created",
        entity="product_id",
        entities=240,
        price_range=(8.0, 260.0),
        platform_fee=0.0,
        quotes=False,
        reviews=True,
        screens=("home", "category", "product", "cart", "checkout", "orders", "account"),
        searches=(
            "running shoes",
            "headphones",
            "coffee grinder",
            "yoga mat",
            "phone case",
            "desk lamp",
            "backpack",
            "water bottle",
            "left handed scissors",
            "vintage typewriter ribbon",
        ),
        weight=0.35,
    ),
    Product(
        key="mentoring",
        site="https://mentorly.example",
        app="Mentorly",
        order_event="order_created",
        entity="course_id",
        entities=30,
        price_range=(40.0, 400.0),
        platform_fee=0.20,
        quotes=False,
        reviews=True,
        screens=("home", "mentors", "mentor", "course", "booking", "sessions", "account"),
        searches=(
            "python mentor",
            "product management",
            "system design",
            "career change",
            "public speaking",
            "data science",
            "interview prep",
            "cobol mainframe",
        ),
        weight=0.20,
    ),
)

# (locale, currency, share of visitors, units of currency per reporting-currency unit)
MARKETS: tuple[tuple[str, str, float, float], ...] = (
    ("en-US", "USD", 0.58, 1.0),
    ("en-GB", "GBP", 0.16, 0.79),
    ("de-DE", "EUR", 0.12, 0.92),
    ("fr-FR", "EUR", 0.08, 0.92),
    ("es-ES", "EUR", 0.06, 0.92),
)

WEB_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
)
BOT_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
)
IOS_DEVICES: tuple[tuple[str, str], ...] = (("iPhone15,2", "17.4"), ("iPhone14,5", "16.7"))
ANDROID_DEVICES: tuple[tuple[str, str], ...] = (
    ("Pixel 8", "14"),
    ("SM-S918B", "14"),
    ("moto g54 5G", "13"),
)
APP_VERSIONS: tuple[str, ...] = ("3.2.0", "3.3.1", "3.4.0", "3.4.1")
API_ERRORS: tuple[str, ...] = ("timeout", "upstream_5xx", "rate_limited", "validation_failed")
CLIENT_ERRORS: tuple[tuple[str, str], ...] = (
    ("js_error", "TypeError: Cannot read properties of undefined (reading 'price')"),
    ("network_error", "Failed to fetch"),
    ("crash", "NullPointerException in CheckoutViewModel.submit"),
    ("payment_declined", "card_declined: insufficient_funds"),
)
PAYMENT_METHODS: tuple[str, ...] = ("card", "card", "card", "apple_pay", "google_pay", "paypal")
RATINGS: tuple[int, ...] = (1, 2, 3, 4, 5)
RATING_WEIGHTS: tuple[float, ...] = (0.04, 0.05, 0.11, 0.30, 0.50)
PLATFORMS: tuple[str, ...] = ("web", "ios", "android")
PLATFORM_WEIGHTS: tuple[float, ...] = (0.55, 0.25, 0.20)
# Relative traffic per UTC hour: quiet nights, a lunch bump and an evening peak.
HOURLY_WEIGHTS: tuple[float, ...] = (
    *(0.3, 0.2, 0.15, 0.12, 0.12, 0.2, 0.4, 0.7, 1.0, 1.1, 1.1, 1.2),
    *(1.4, 1.3, 1.1, 1.1, 1.2, 1.4, 1.6, 1.8, 1.9, 1.6, 1.1, 0.6),
)


@dataclass(frozen=True)
class _Purchase:
    provider_id: str
    dimension: str  # provider_id, product_id or course_id
    entity: str
    amount: float
    order_id: str


@dataclass
class _Visitor:
    """What stays the same across one visitor's sessions."""

    product: Product
    platform: str
    user_agent: str
    app_version: str | None
    locale: str
    currency: str
    rate: float  # currency units per reporting-currency unit
    anonymous_id: str
    user_id: str | None
    is_bot: bool
    signs_up_on: int  # session index of the sign-up; -1 never
    loyalty: float  # chance of coming back after each session
    mean_gap_days: float
    bought: list[_Purchase]  # paid for, not yet reviewed or refunded


class _Session:
    """Builds the events of one session at increasing times."""

    def __init__(self, rng: random.Random, visitor: _Visitor, start: datetime) -> None:
        self.rng = rng
        self.visitor = visitor
        self.time = start
        self.session_id = _uuid(rng)
        self.events: list[dict[str, Any]] = []

    def emit(self, event_type: str, **fields: Any) -> dict[str, Any]:
        self.time += timedelta(seconds=self.rng.uniform(2.0, 75.0))
        visitor = self.visitor
        context: dict[str, Any] = {"user_agent": visitor.user_agent, "locale": visitor.locale}
        page_url = fields.pop("page_url", None)
        if page_url is not None:
            context["page_url"] = page_url
            context["referrer"] = fields.pop("referrer", None) or visitor.product.site + "/"
        event: dict[str, Any] = {
            "event_id": _uuid(self.rng),
            "event_type": event_type,
            "timestamp": _iso(self.time),
            "user_id": visitor.user_id,
            "anonymous_id": visitor.anonymous_id,
            "session_id": self.session_id,
            "platform": visitor.platform,
            "app_version": visitor.app_version,
            "category": visitor.product.key,
            "context": context,
            "properties": fields.pop("properties", {}),
            **fields,
        }
        self.events.append({k: v for k, v in event.items() if v is not None})
        return event


def generate_events(
    count: int, *, seed: int, now: datetime, days: int = HISTORY_DAYS
) -> list[dict[str, Any]]:
    """Exactly `count` events over the `days` before `now`, oldest first; deterministic."""
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(seed)
    now = now.astimezone(UTC)
    events: list[dict[str, Any]] = []
    while len(events) < count:
        events.extend(_visitor_events(rng, now, days))
    # Visitors arrive in random order, so cutting the overflow keeps the history's shape.
    kept = events[:count]
    kept.sort(key=lambda event: (event["timestamp"], event["event_id"]))
    return kept


def _visitor_events(rng: random.Random, now: datetime, days: int) -> Iterator[dict[str, Any]]:
    visitor = _new_visitor(rng)
    start = _first_visit(rng, now, days)
    session_index = 0
    while start < now:
        session = _Session(rng, visitor, start)
        if visitor.is_bot:
            _crawl(session)
        else:
            _browse(session, session_index)
        yield from (e for e in session.events if e["timestamp"] <= _iso(now))
        if visitor.is_bot or rng.random() > visitor.loyalty:
            return  # this visitor does not come back: a lead or customer who churns
        gap_days = max(MIN_RETURN_GAP_HOURS / 24, rng.expovariate(1 / visitor.mean_gap_days))
        start = session.time + timedelta(days=gap_days)
        session_index += 1


def _new_visitor(rng: random.Random) -> _Visitor:
    product = rng.choices(PRODUCTS, weights=[p.weight for p in PRODUCTS])[0]
    locale, currency, _, rate = rng.choices(MARKETS, weights=[m[2] for m in MARKETS])[0]
    platform = rng.choices(PLATFORMS, weights=PLATFORM_WEIGHTS)[0]
    is_bot = platform == "web" and rng.random() < 0.03
    app_version = None if platform == "web" else rng.choice(APP_VERSIONS)
    user_agent = (
        rng.choice(BOT_AGENTS) if is_bot else _user_agent(rng, product, platform, app_version)
    )
    roll = rng.random()
    signs_up_on = -1 if is_bot or roll < 0.45 else (0 if roll < 0.80 else rng.randint(1, 3))
    return _Visitor(
        product=product,
        platform=platform,
        user_agent=user_agent,
        app_version=app_version,
        locale=locale,
        currency=currency,
        rate=rate,
        anonymous_id="anon-" + _uuid(rng)[:13],
        user_id=None,
        is_bot=is_bot,
        signs_up_on=signs_up_on,
        loyalty=rng.uniform(0.35, 0.9) if signs_up_on >= 0 else rng.uniform(0.1, 0.5),
        mean_gap_days=rng.uniform(1.0, 6.0),
        bought=[],
    )


def _user_agent(rng: random.Random, product: Product, platform: str, version: str | None) -> str:
    if platform == "ios":
        model, os_version = rng.choice(IOS_DEVICES)
        return f"{product.app}/{version} ({model}; iOS {os_version}; Scale/3.00)"
    if platform == "android":
        model, os_version = rng.choice(ANDROID_DEVICES)
        return f"{product.app}/{version} (Linux; U; Android {os_version}; {model})"
    return rng.choice(WEB_AGENTS)


def _first_visit(rng: random.Random, now: datetime, days: int) -> datetime:
    """A time in the last `days` days, later days likelier (growth), by hour of day."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    weights = [DAILY_GROWTH**d for d in range(days)]
    while True:
        day = rng.choices(range(days), weights=weights)[0]
        hour = rng.choices(range(24), weights=HOURLY_WEIGHTS)[0]
        moment = today - timedelta(days=days - 1 - day, hours=-hour, seconds=-rng.uniform(0, 3600))
        if moment < now:
            return moment


def _crawl(session: _Session) -> None:
    product = session.visitor.product
    for _ in range(session.rng.randint(1, 4)):
        screen = session.rng.choice(product.screens)
        session.emit(
            "page_view",
            page_url=f"{product.site}/{screen}",
            referrer="",
            properties={"screen": screen},
        )


def _browse(session: _Session, index: int) -> None:
    rng, visitor = session.rng, session.visitor
    product = visitor.product
    if index == visitor.signs_up_on:
        _page_view(session, "account")
        visitor.user_id = "user-" + _uuid(rng)[:12]
        session.emit("signup", properties={"method": rng.choice(("email", "google", "apple"))})
    elif visitor.user_id is not None and rng.random() < 0.7:
        session.emit("login", properties={"method": rng.choice(("password", "google", "apple"))})
    for _ in range(rng.randint(1, 5)):
        _page_view(session, rng.choice(product.screens))
        if rng.random() < 0.5:
            _api_call(session, "GET", f"/api/{rng.choice(product.screens)}")
    for _ in range(rng.choices((0, 1, 2, 3), weights=(0.3, 0.4, 0.2, 0.1))[0]):
        _search(session)
    if visitor.user_id is not None:
        _after_sales(session)
        if rng.random() < 0.35:
            _order(session)
    if rng.random() < 0.02:
        error_type, message = rng.choice(CLIENT_ERRORS)
        session.emit("error", error_type=error_type, properties={"message": message})


def _page_view(session: _Session, screen: str) -> None:
    visitor = session.visitor
    page_url = f"{visitor.product.site}/{screen}" if visitor.platform == "web" else None
    session.emit("page_view", page_url=page_url, properties={"screen": screen})


def _api_call(session: _Session, method: str, endpoint: str) -> None:
    rng = session.rng
    duration = round(rng.lognormvariate(math.log(120.0), 0.6), 1)
    if rng.random() < 0.03:
        session.emit(
            "api_call",
            duration_ms=round(duration * rng.uniform(2.0, 20.0), 1),
            success=False,
            error_type=rng.choice(API_ERRORS),
            properties={"endpoint": endpoint, "method": method},
        )
    else:
        session.emit(
            "api_call",
            duration_ms=duration,
            success=True,
            properties={"endpoint": endpoint, "method": method},
        )


def _search(session: _Session) -> None:
    rng, product = session.rng, session.visitor.product
    query = rng.choice(product.searches)
    # The last few terms of each list are rare asks the catalogue lacks: zero results.
    result_count = 0 if product.searches.index(query) >= len(product.searches) - 2 else None
    if result_count is None:
        result_count = 0 if rng.random() < 0.06 else rng.randint(1, 60)
    session.emit(
        "search",
        duration_ms=round(rng.lognormvariate(math.log(80.0), 0.5), 1),
        properties={"query": query, "result_count": result_count},
    )
    _api_call(session, "GET", "/api/search")


def _entity(rng: random.Random, product: Product) -> str:
    # A few popular entities get most of the orders (Pareto), as on real marketplaces.
    rank = min(product.entities, int(rng.paretovariate(1.2)))
    prefix = {"provider_id": "pro", "product_id": "sku", "course_id": "course"}[product.entity]
    return f"{prefix}-{rank:04d}"


def _order(session: _Session) -> None:
    rng, visitor = session.rng, session.visitor
    product = visitor.product
    entity = _entity(rng, product)
    order_id = "ord-" + _uuid(rng)[:12]
    amount = round(rng.uniform(*product.price_range) * visitor.rate, 2)
    properties: dict[str, Any] = {"order_id": order_id}
    if product.entity == "course_id":
        properties["course_id"] = entity
        properties["provider_id"] = f"mentor-{int(entity[-4:]) % 12:04d}"
    elif product.entity == "product_id":
        properties["product_id"] = entity
        properties["provider_id"] = f"seller-{int(entity[-4:]) % 40:04d}"  # marketplace seller
        properties["quantity"] = rng.choice((1, 1, 1, 2, 3))
    else:
        properties["provider_id"] = entity
        properties["service"] = rng.choice(product.searches[:-2])
    session.emit(product.order_event, properties=properties)
    _api_call(session, "POST", f"/api/{product.order_event.split('_')[0]}s")
    provider_id = properties.get("provider_id")
    if product.quotes:
        session.emit(
            "quote_sent",
            properties={"provider_id": provider_id, "amount": amount, "order_id": order_id},
        )
    if rng.random() > 0.65:
        return  # abandoned: no payment
    if rng.random() < 0.04:
        session.emit(
            "error",
            error_type="payment_declined",
            properties={"message": "card_declined: do_not_honor", "order_id": order_id},
        )
        return
    payment: dict[str, Any] = {
        "order_id": order_id,
        "payment_method": rng.choice(PAYMENT_METHODS),
        "platform_fee": round(amount * product.platform_fee, 2),
        "provider_id": provider_id,
        product.entity: entity,
    }
    session.emit("payment", revenue=amount, currency=visitor.currency, properties=payment)
    visitor.bought.append(_Purchase(str(provider_id), product.entity, entity, amount, order_id))


def _after_sales(session: _Session) -> None:
    """On a later visit, customers review what they bought, and a few ask for a refund."""
    rng, visitor = session.rng, session.visitor
    product = visitor.product
    for bought in visitor.bought:
        if rng.random() < 0.08:
            session.emit(
                "refund",
                revenue=-bought.amount,
                currency=visitor.currency,
                properties={
                    "order_id": bought.order_id,
                    "reason": rng.choice(("no_show", "damaged", "changed_mind")),
                },
            )
        elif product.reviews and rng.random() < 0.5:
            rating = rng.choices(RATINGS, weights=RATING_WEIGHTS)[0]
            properties = {"rating": rating, "provider_id": bought.provider_id}
            if bought.dimension != "provider_id":
                properties[bought.dimension] = bought.entity
            session.emit("review", properties={**properties, "order_id": bought.order_id})
    visitor.bought.clear()


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def live_events(
    *,
    seed: int,
    start: datetime,
    rate: float = DEFAULT_LIVE_RATE,
    spike_seconds: float = SPIKE_SECONDS,
) -> Iterator[dict[str, Any]]:
    """Endless live traffic after `start`, `rate` events a second on average; deterministic.

    Arrivals are Poisson; each event comes from one of a few concurrent sessions. Events before
    start + spike_seconds belong to the outage (see SPIKE_API_FAILURE); 0 turns the spike off.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    rng = random.Random(seed)
    moment = start.astimezone(UTC)
    spike_end = moment + timedelta(seconds=spike_seconds)
    visitors = _LiveVisitors(rng)
    sessions = [visitors.next_session() for _ in range(LIVE_SESSIONS)]
    while True:
        moment += timedelta(seconds=rng.expovariate(rate))
        slot = rng.randrange(LIVE_SESSIONS)
        if not sessions[slot]:
            sessions[slot] = visitors.next_session()
        event = sessions[slot].popleft()
        if moment < spike_end:
            event = _outage(rng, event, sessions[slot])
        event["timestamp"] = _iso(moment)
        yield event


class _LiveVisitors:
    """New visitors, and earlier ones coming back, each session's events in order."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.known: list[tuple[_Visitor, int]] = []  # (visitor, sessions so far)

    def next_session(self) -> deque[dict[str, Any]]:
        rng = self.rng
        if self.known and rng.random() < LIVE_RETURNING:
            visitor, index = self.known.pop(rng.randrange(len(self.known)))
        else:
            visitor, index = _new_visitor(rng), 0
        # The session's own clock is unused: live_events stamps each event as it is emitted.
        session = _Session(rng, visitor, datetime.min.replace(tzinfo=UTC))
        if visitor.is_bot:
            _crawl(session)
            return deque(session.events)
        _browse(session, index)
        self.known.append((visitor, index + 1))
        if len(self.known) > LIVE_KNOWN_VISITORS:
            self.known.pop(0)
        return deque(session.events)


def _outage(
    rng: random.Random, event: dict[str, Any], session: deque[dict[str, Any]]
) -> dict[str, Any]:
    """The event as the outage changes it; a client's own error report goes next in its session."""
    if event["event_type"] != "api_call" or rng.random() >= SPIKE_API_FAILURE:
        return event
    failed = {
        **event,
        "success": False,
        "error_type": "upstream_5xx",
        "duration_ms": round(rng.lognormvariate(math.log(35.0), 0.4), 1),
    }
    if rng.random() < SPIKE_CLIENT_ERROR:
        error_type, message = CLIENT_ERRORS[1]  # network_error: "Failed to fetch"
        shared = {k: v for k, v in event.items() if k not in _API_CALL_FIELDS}
        session.appendleft(
            {
                **shared,
                "event_id": _uuid(rng),
                "event_type": "error",
                "error_type": error_type,
                "properties": {"message": message},
            }
        )
    return failed


_API_CALL_FIELDS = frozenset({"duration_ms", "success", "error_type", "properties"})


def batches(events: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]
