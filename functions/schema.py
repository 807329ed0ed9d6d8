"""The event schema: the one contract every producer (browser, app, server, importer) meets.

`validate_events` checks raw JSON events and returns the accepted ones as JSON-able records
(the `records` of an "events" envelope) plus a `Rejection` per bad event, with every problem
named by a dotted field path. The rules:

- Unknown fields are rejected, at the top level and inside `context` ("unknown field
  'context.screen'"): a typo must not lose data silently. Free-form data goes in `properties`.
- `properties` is a JSON object at most 8 levels deep, keys at most 128 characters, strings at most
  8,192 characters, numbers finite and integers within 64 bits (BigQuery's JSON type).
- Strings are bounded, NaN and Infinity are rejected everywhere (`parse_json` refuses them).
- One event serialises to at most 32 KB.
- `timestamp` and `sent_at` are ISO 8601 with a UTC offset; a naive time is an error, because
  guessing its zone would silently shift it by hours.
- A missing `timestamp` defaults to the event's `sent_at` (its own, else the batch's), else to the
  received time: the load function corrects client clocks with timestamp + (received_at - sent_at),
  so either way a timeless event lands at the time it was received.
- A timestamp more than 24 h in the future, after that clock correction, is rejected; checking
  the corrected time keeps the events of a client whose clock is days ahead.
- `currency` (ISO 4217, three capital letters) is required when `revenue` is given.
- The numbers the rollups add up have bounds (`NUMBER_BOUNDS`): a payment above 10^12 in any
  currency, or an API call longer than 30 days, is a client bug, and one such value would turn a
  day's totals into nonsense (or, summed, into Infinity).
- Text must be valid Unicode (a lone UTF-16 surrogate such as `\\ud83d`, which a browser writes
  when it cuts a string through an emoji, is not), an object may name a key only once, and an
  integer may have at most 4,300 digits: each is rejected for the one event that holds it.

Records keep the fields the client sent (null where it sent null), with `event_id` filled in
(a UUID4 when absent) and `timestamp` and `sent_at` as ISO 8601 UTC strings.
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NoReturn, Required

import msgspec
from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, with_config
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from functions.ids import uuid4_text

MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 1024 * 1024  # after gzip decoding
MAX_BATCH_EVENTS = 500
MAX_FUTURE = timedelta(hours=24)
MAX_PROPERTIES_DEPTH = 8
MAX_PROPERTY_KEY_CHARS = 128
MAX_PROPERTY_STRING_CHARS = 8192
MAX_TIMESTAMP_CHARS = 64
PLATFORMS = ("web", "ios", "android", "desktop", "server", "other")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
MAX_MONEY = 1e12  # one payment, refund or fee, in any currency's units
MAX_DURATION_MS = 30 * 24 * 3600 * 1000  # 30 days
# (low, high) of each number the rollups add up or average, by field path. A value outside is
# rejected: it is a client bug, and one would swamp (or, summed, overflow) a day's totals.
NUMBER_BOUNDS: dict[str, tuple[float, float]] = {
    "revenue": (-MAX_MONEY, MAX_MONEY),
    "duration_ms": (0, MAX_DURATION_MS),
    "properties.platform_fee": (-MAX_MONEY, MAX_MONEY),
    "properties.amount": (-MAX_MONEY, MAX_MONEY),
    "properties.result_count": (0, 1e12),
    "properties.rating": (0, 10),
}
_PROPERTY_BOUNDS = {
    path.removeprefix("properties."): bounds
    for path, bounds in NUMBER_BOUNDS.items()
    if path.startswith("properties.")
}


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str  # dotted path, e.g. "context.user_agent"; "event" for the event as a whole
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int  # position in the request's events
    event_id: str | None  # as the client sent it, when it was a string
    errors: list[FieldError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "event_id": self.event_id,
            "errors": [e.to_dict() for e in self.errors],
        }


class InvalidJSON(ValueError):
    """A body is not strict JSON (syntax, NaN or Infinity, or nesting too deep to parse)."""


def _refuse_constant(name: str) -> NoReturn:
    raise InvalidJSON(f"{name} is not valid JSON; numbers must be finite")


class DuplicateKeys(dict[str, Any]):
    """A JSON object that named a key more than once; `pairs` keeps every value as sent."""

    pairs: list[tuple[str, Any]]


class LongInteger(str):
    """The digits of an integer too long for Python to convert (over 4,300 digits)."""


class _Seen(threading.local):
    seen = False


_duplicates = _Seen()  # set by _object during one decode in this thread


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    made = dict(pairs)
    if len(made) == len(pairs):
        return made
    _duplicates.seen = True
    duplicated = DuplicateKeys(made)
    duplicated.pairs = pairs
    return duplicated


def _integer(digits: str) -> int | LongInteger:
    try:
        return int(digits)
    except ValueError:  # past sys.get_int_max_str_digits()
        return LongInteger(digits)


# json.loads builds a decoder per call; these are built once. The pairs hook is a Python call per
# object: measured, a batch of 100 events of 3 objects each decodes in 366 us against 170 us
# without it (0.65 us an object), the price of refusing duplicate keys. The integer hook only
# runs when the fast decoder refused an integer.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, object_pairs_hook=_object)
_LONG_INTEGER_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, object_pairs_hook=_object, parse_int=_integer
)
# A \\uD800-\\uDFFF escape may be a lone surrogate; a raw one comes from bytes that were not UTF-8.
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89abcdefABCDEF]|[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Document:
    value: Any
    # True when some value may break a rule only a walk finds (a lone surrogate, a duplicate
    # key, an overlong integer): validate_events then walks each event (see suspect_errors).
    suspect: bool


def parse_document(text: str) -> Document:
    """Strict JSON (no NaN or Infinity), noting whether any value needs the slow checks."""
    suspect = "\\u" in text and _MAYBE_SURROGATE.search(text) is not None
    if not suspect and not text.isascii():
        suspect = _MAYBE_SURROGATE.search(text) is not None
    _duplicates.seen = False
    try:
        try:
            value = _DECODER.decode(text)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError | InvalidJSON):
                raise
            # An integer over Python's 4,300-digit conversion limit: decode it as digits.
            value = _LONG_INTEGER_DECODER.decode(text)
            suspect = True
    except InvalidJSON:
        raise
    except RecursionError:
        raise InvalidJSON("the JSON is nested too deeply") from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise InvalidJSON(f"not valid JSON: {exc}") from None
    return Document(value, suspect or _duplicates.seen)


def parse_json(text: str | bytes) -> Any:
    """json.loads, except that NaN, Infinity and -Infinity (which Python accepts) are errors."""
    try:
        if not isinstance(text, str):
            # What json.loads does with bytes: UTF-8, -16 or -32, told apart by the first bytes.
            text = text.decode(json.detect_encoding(text), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"not valid JSON: {exc}") from None
    return parse_document(text).value


class TimestampError(ValueError):
    """A timestamp that is not ISO 8601 with a UTC offset."""


def parse_timestamp(value: object) -> datetime:
    """An ISO 8601 string with a UTC offset (or an aware datetime) as an aware datetime."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and len(value) <= MAX_TIMESTAMP_CHARS:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise TimestampError(
                "must be an ISO 8601 date and time with a UTC offset, e.g. 2024-05-01T12:00:00Z"
            ) from None
    else:
        raise TimestampError(
            f"must be an ISO 8601 string of at most {MAX_TIMESTAMP_CHARS} characters"
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise TimestampError("must include a UTC offset (Z or +hh:mm); naive times are ambiguous")
    return parsed


def _check_ip(value: object) -> object:
    if isinstance(value, str):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise PydanticCustomError("ip_address", "must be an IPv4 or IPv6 address") from None
    return value


def _timestamp_or_none(value: object) -> datetime | None:
    try:
        return None if value is None else parse_timestamp(value)
    except TimestampError as exc:
        # A custom error keeps pydantic from prefixing the message with "Value error, ".
        raise PydanticCustomError("timestamp", str(exc)) from None


Timestamp = Annotated[datetime | None, BeforeValidator(_timestamp_or_none)]
Identifier = Annotated[str | None, Field(min_length=1, max_length=256)]
Label = Annotated[str | None, Field(max_length=64)]
Url = Annotated[str | None, Field(max_length=2048)]
Finite = Annotated[float | None, Field(allow_inf_nan=False)]
_STRICT = ConfigDict(extra="forbid", strict=True)


@with_config(_STRICT)
class _Context(TypedDict, total=False):
    page_url: Url
    referrer: Url
    user_agent: Annotated[str | None, Field(max_length=1024)]
    locale: Annotated[str | None, Field(max_length=35)]  # BCP 47 tags are at most 35 chars
    ip: Annotated[str | None, Field(max_length=45), BeforeValidator(_check_ip)]


@with_config(_STRICT)
class _Event(TypedDict, total=False):
    event_type: Required[
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
    ]
    event_id: Annotated[str | None, Field(min_length=1, max_length=64)]
    timestamp: Timestamp
    sent_at: Timestamp
    user_id: Identifier
    anonymous_id: Identifier
    session_id: Identifier
    platform: Literal["web", "ios", "android", "desktop", "server", "other"] | None
    app_version: Label
    category: Label
    properties: dict[str, Any] | None
    context: _Context | None
    revenue: Annotated[Finite, Field(ge=-MAX_MONEY, le=MAX_MONEY)]
    currency: Annotated[str | None, Field(pattern=r"^[A-Z]{3}$")]
    duration_ms: Annotated[Finite, Field(ge=0, le=MAX_DURATION_MS)]
    success: bool | None
    error_type: Annotated[str | None, Field(max_length=256)]
    # What came with the event from another protocol and has no column (Segment's call, its
    # original event name, group and alias ids, unmapped context): the same rules as properties.
    extra: dict[str, Any] | None


EVENT_SCHEMA: type = _Event  # the one definition; ingest/fastpath.py compiles it for msgspec
_EVENT = TypeAdapter(_Event)
# The fields an accepted record may hold (a record keeps the fields the client sent): what the
# load must read, top level and under context.
EVENT_FIELDS = frozenset(_Event.__optional_keys__ | _Event.__required_keys__)
CONTEXT_FIELDS = frozenset(_Context.__optional_keys__ | _Context.__required_keys__)

# Clearer words than pydantic's for the rules a client most often breaks.
_MESSAGES: dict[tuple[str, str], str] = {
    ("event_type", "string_pattern_mismatch"): (
        "must be lower snake case: a-z, 0-9 and _, starting with a letter"
    ),
    ("currency", "string_pattern_mismatch"): "must be an ISO 4217 code: three capital letters",
}


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        path = ".".join(str(part) for part in err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            message = f"unknown field '{path}'"
        elif kind == "missing":
            message = "required"
        else:
            message = _MESSAGES.get((path, kind), err["msg"])
        errors.append(FieldError(path or "event", message))
    return errors


def _properties_errors(value: Any, path: str, depth: int, out: list[FieldError]) -> None:
    """Append what breaks the properties rules under `path`."""
    kind = type(value)
    if kind is str:
        if len(value) > MAX_PROPERTY_STRING_CHARS:
            out.append(FieldError(path, f"string longer than {MAX_PROPERTY_STRING_CHARS} chars"))
    elif kind is bool or value is None:
        pass
    elif kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            out.append(FieldError(path, "integer outside the 64-bit range"))
    elif kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            out.append(FieldError(path, "number must be finite (no NaN or Infinity)"))
    elif depth >= MAX_PROPERTIES_DEPTH and kind in (dict, list):
        out.append(FieldError(path, f"nested deeper than {MAX_PROPERTIES_DEPTH} levels"))
    elif kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                out.append(FieldError(path, "object keys must be strings"))
                continue
            if len(key) > MAX_PROPERTY_KEY_CHARS:
                out.append(FieldError(path, f"key longer than {MAX_PROPERTY_KEY_CHARS} characters"))
            _properties_errors(item, f"{path}.{key}", depth + 1, out)
    elif kind is list:
        for position, item in enumerate(value):
            _properties_errors(item, f"{path}.{position}", depth + 1, out)
    else:
        out.append(FieldError(path, f"{kind.__name__} is not a JSON value"))


_SIZE_ENCODER = msgspec.json.Encoder()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def printable(text: str) -> str:
    """TEXT with what UTF-8 cannot carry (lone surrogates) written as escapes, like \\ud83d."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def raw_json(value: object) -> str:
    """VALUE as JSON text as it was sent: every pair of a DuplicateKeys object, a LongInteger's
    digits, and lone surrogates as \\u escapes (so the text is valid UTF-8)."""
    try:
        return _raw_json(value)
    except RecursionError:  # nested deeper than this stack allows: the C encoder goes deeper
        return json.dumps(value, default=str)


def _raw_json(value: object) -> str:
    if isinstance(value, DuplicateKeys):
        items: Sequence[tuple[str, Any]] = value.pairs
    elif isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        return "[" + ",".join(_raw_json(item) for item in value) + "]"
    elif isinstance(value, LongInteger):
        return str.__str__(value)
    elif isinstance(value, str):
        return _string_json(value)
    else:
        return json.dumps(value, default=str)
    return "{" + ",".join(f"{_string_json(k)}:{_raw_json(v)}" for k, v in items) + "}"


def _string_json(text: str) -> str:
    # ensure_ascii=False keeps non-ASCII readable; a lone surrogate then needs its \\u escape.
    return json.dumps(text, ensure_ascii=_is_unicode(text) is False)


def _is_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_NOT_UNICODE = (
    "is not valid Unicode: a lone UTF-16 surrogate (as when a string is cut through an emoji) "
    "or bytes that are not UTF-8"
)


def suspect_errors(event: object) -> list[FieldError]:
    """What breaks the rules that only a walk of the event finds (see Document.suspect)."""
    errors: list[FieldError] = []
    stack: list[tuple[str, object]] = [("", event)]
    while stack:  # iterative: an event may be nested as deep as the parser allows
        path, value = stack.pop()
        if isinstance(value, dict):
            if isinstance(value, DuplicateKeys):
                seen: set[str] = set()
                for key, _ in value.pairs:
                    if key in seen:
                        where = printable(f"{path}.{key}" if path else key)
                        errors.append(
                            FieldError(where, f"duplicate key '{printable(key)}' in one object")
                        )
                    seen.add(key)
            for key, item in value.items():
                child = f"{path}.{key}" if path else key
                if not _is_unicode(key):
                    errors.append(FieldError(printable(child), f"the key {_NOT_UNICODE}"))
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}", item) for i, item in enumerate(value))
        elif isinstance(value, LongInteger):
            errors.append(FieldError(printable(path) or "event", "integer of over 4,300 digits"))
        elif isinstance(value, str) and not _is_unicode(value):
            errors.append(FieldError(printable(path) or "event", _NOT_UNICODE))
    return errors


def _bound_errors(record: dict[str, Any]) -> list[FieldError]:
    """Properties numbers the rollups aggregate that are out of bounds (NUMBER_BOUNDS)."""
    properties = record.get("properties")
    if not properties or properties.keys().isdisjoint(_PROPERTY_BOUNDS):
        return []
    errors = []
    for key, (low, high) in _PROPERTY_BOUNDS.items():
        value = properties.get(key)
        if type(value) in (int, float) and not low <= value <= high:
            errors.append(FieldError(f"properties.{key}", f"must be between {low:g} and {high:g}"))
    return errors


def validate_events(
    raw_events: Sequence[object],
    *,
    received_at: datetime,
    sent_at: datetime | None = None,
    suspect: bool = False,
) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Check each raw event; return the accepted records and the rejections, in input order.

    `sent_at` is the batch's: it applies to events that carry no `sent_at` of their own.
    `suspect` (from Document) asks for the walk of each event that finds lone surrogates,
    duplicate keys and overlong integers.
    """
    accepted: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    rules = EventRules(received_at, sent_at)
    validate = _EVENT.validate_python
    for index, raw in enumerate(raw_events):
        if suspect and (problems := suspect_errors(raw)):
            raw_id = raw.get("event_id") if isinstance(raw, dict) else None
            rejected.append(Rejection(index, _client_id(raw_id), problems))
            continue
        if type(raw) is not dict:
            rejected.append(Rejection(index, None, [FieldError("event", "must be a JSON object")]))
            continue
        errors: list[FieldError] = []
        try:
            record: dict[str, Any] = dict(validate(raw))
        except ValidationError as exc:
            errors = _field_errors(exc)
            record = {}
        errors = rules.check(raw, record, errors)
        if errors:
            rejected.append(Rejection(index, _client_id(raw.get("event_id")), errors))
        else:
            accepted.append(record)
    return accepted, rejected


class EventRules:
    """The rules past each field's type, for the events of one request: the properties walk,
    number bounds, the clock, currency, the event id and the size. Both validators apply them:
    validate_events after pydantic, and the hot path (ingest/fastpath.py) after msgspec."""

    def __init__(self, received_at: datetime, sent_at: datetime | None) -> None:
        if received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        self.received_at = received_at
        self.sent_at = sent_at  # the batch's
        self.latest = received_at + MAX_FUTURE

    def check(
        self, raw: dict[str, Any], record: dict[str, Any], errors: list[FieldError]
    ) -> list[FieldError]:
        """The errors of one event, given those of its field types; when there are none,
        RECORD (its typed fields, timestamps as datetimes) is completed to what is published."""
        properties = raw.get("properties")
        if type(properties) is dict:
            _properties_errors(properties, "properties", 1, errors)
            if not errors:
                errors = _bound_errors(record)
        extra = raw.get("extra")
        if type(extra) is dict:
            _properties_errors(extra, "extra", 1, errors)
        if errors:
            return errors

        received_at = self.received_at
        event_sent = record.get("sent_at") or self.sent_at
        moment = record.get("timestamp") or event_sent or received_at
        try:
            corrected = moment + (received_at - event_sent) if event_sent else moment
            if corrected > self.latest:
                errors.append(FieldError("timestamp", "is more than 24 h in the future"))
            timestamp_text = _iso(moment)
            sent_text = None if event_sent is None else _iso(event_sent)
        except OverflowError:
            # Times near year 1 or 9999: the clock correction, or the shift to UTC, leaves the
            # range of datetimes (and of BigQuery's TIMESTAMP, the same years 1 to 9999).
            field_name = "timestamp" if record.get("timestamp") else "sent_at"
            errors.append(
                FieldError(
                    field_name,
                    "with the clock correction (timestamp + received_at - sent_at) it falls "
                    "outside the years 0001 to 9999",
                )
            )
        if record.get("revenue") is not None and record.get("currency") is None:
            errors.append(FieldError("currency", "required when revenue is given"))
        if errors:
            return errors

        record["timestamp"] = timestamp_text
        if sent_text is not None:
            record["sent_at"] = sent_text
        if record.get("event_id") is None:
            record["event_id"] = uuid4_text()
        measured = serialised_size(record)
        if measured > MAX_EVENT_BYTES:
            message = f"serialises to {measured} bytes; the limit is {MAX_EVENT_BYTES}"
            return [FieldError("event", message)]
        return errors


def serialised_size(record: dict[str, Any]) -> int:
    """The bytes of RECORD as compact JSON (json.dumps, non-ASCII as UTF-8), what the limit of
    MAX_EVENT_BYTES is written against.

    msgspec writes the same text about eight times faster, except that json spells a float's
    exponent with one more character (1e+16 against 1e16, 1e-07 against 1e-7). A float takes
    at least four bytes with its separator, so json's text is at most a quarter longer; only a
    record that could then pass the limit is measured with json itself.
    """
    try:
        fast = len(_SIZE_ENCODER.encode(record))
    except (TypeError, ValueError, OverflowError):  # what msgspec cannot write, json decides
        fast = MAX_EVENT_BYTES
    if fast + fast // 4 + 1 <= MAX_EVENT_BYTES:
        return fast
    return len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())


def _client_id(raw_id: object) -> str | None:
    return printable(raw_id[:256]) if isinstance(raw_id, str) else None
