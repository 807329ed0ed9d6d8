"""The hot path of native bodies: the schema (functions/schema.py) compiled for msgspec.

Most requests are valid. For those, msgspec decodes the body and checks every field's type and
bounds in one pass, in C, where the slow path decodes with json's duplicate-key hook and then
validates with pydantic; the rules past the field types are the same `EventRules` both run. The
hot path only ever accepts: a body with anything wrong in it, or anything it cannot judge
exactly (escapes, a Segment batch), is declined (None) and goes through parse_raw and
validate_events as before, which name every problem. So what is accepted, and every rejection's
wording, stay the slow path's; a test checks that both paths accept the same records from the
same bodies.

The msgspec types are derived from the schema's TypedDicts, so each field's rules are written
once. What msgspec cannot see is made up for:
- Unknown fields and repeated keys, which msgspec drops silently, by counting colons: outside
  strings JSON has a colon only after a key, and msgspec writes colons only there and inside
  strings as they were sent. A key lost in decoding leaves the decoded text with fewer colons.
- A field's BeforeValidator (timestamps, IP addresses): such a field decodes as any JSON value,
  and the validator, then the field's type, run in Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NotRequired, Required, get_args, get_origin

import msgspec
from annotated_types import Ge, Le, MaxLen, MinLen
from pydantic import BeforeValidator
from pydantic.fields import FieldInfo
from typing_extensions import TypedDict, get_type_hints, is_typeddict

from functions.schema import (
    EVENT_SCHEMA,
    MAX_BATCH_EVENTS,
    MAX_REQUEST_BYTES,
    EventRules,
    parse_timestamp,
)

Kind = Literal["single", "batch"]
Validator = Callable[[Any], Any]
_ENCODER = msgspec.json.Encoder()
# An escaped colon decodes to one more colon than the body shows, which could hide a lost key.
_ESCAPED_COLON = re.compile(rb"\\u003[aA]")
# Types built at import from the schema, so untyped for mypy.
_typed_dict: Any = TypedDict
_list: Any = list
_REQUIRED: Any = Required


@dataclass(frozen=True, slots=True)
class _Checked:
    """A field msgspec decodes as any value: its validators, then its own type, run in Python."""

    key: str
    validators: tuple[Validator, ...]
    # The field's type once validated, for msgspec.convert; None when the last validator's
    # return annotation is that type already (a timestamp's parser returns datetime | None).
    type: Any


@dataclass(frozen=True, slots=True)
class _Compiled:
    type: Any  # the msgspec TypedDict
    checked: tuple[_Checked, ...]
    nested: dict[str, _Compiled]  # TypedDict fields, by key


def _constraints(metadata: list[object]) -> dict[str, Any]:
    """msgspec.Meta keywords for pydantic's constraints. Anything else is an error at import,
    so a rule added to the schema cannot be silently missing from the hot path."""
    meta: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, MinLen):
            meta["min_length"] = item.min_length
        elif isinstance(item, MaxLen):
            meta["max_length"] = item.max_length
        elif isinstance(item, Ge):
            meta["ge"] = item.ge
        elif isinstance(item, Le):
            meta["le"] = item.le
        elif getattr(item, "allow_inf_nan", True) is False:
            pass  # msgspec decodes no NaN or Infinity from JSON (an overflow is an error)
        elif isinstance(getattr(item, "pattern", None), str):
            # pydantic's regex engine ends `$` at the very end; Python's re also before a final
            # newline, so "page_view\n" would match there.
            pattern = item.pattern  # type: ignore[attr-defined]
            meta["pattern"] = re.sub(r"(?<!\\)\$$", r"\\Z", pattern)
        else:
            raise TypeError(f"the hot path does not know the schema rule {item!r}")
    return meta


def _field(annotation: Any) -> tuple[Any, tuple[Validator, ...]]:
    """A schema field's msgspec type (Any when it has validators), and its validators."""
    if get_origin(annotation) in (Required, NotRequired):
        (annotation,) = get_args(annotation)
    validators: list[Validator] = []
    meta: dict[str, Any] = {}
    if get_origin(annotation) is Annotated:
        annotation, *extras = get_args(annotation)
        for extra in extras:
            if isinstance(extra, BeforeValidator):
                validators.append(extra.func)  # type: ignore[arg-type]
            elif isinstance(extra, FieldInfo):
                meta |= _constraints(extra.metadata)
            else:
                raise TypeError(f"the hot path does not know the schema rule {extra!r}")
    if meta:
        # Constraints apply to the value, not to its null: str | None -> Annotated[str] | None.
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            annotation = Annotated[members[0], msgspec.Meta(**meta)] | None
        else:
            annotation = Annotated[annotation, msgspec.Meta(**meta)]
    return annotation, tuple(validators)


def _compile(schema: type) -> _Compiled:
    hints = get_type_hints(schema, include_extras=True)
    fields: dict[str, Any] = {}
    checked: list[_Checked] = []
    nested: dict[str, _Compiled] = {}
    for key, annotation in hints.items():
        typed, validators = _field(annotation)
        inner = [arg for arg in get_args(typed) if is_typeddict(arg)]
        if inner:
            nested[key] = _compile(inner[0])
            typed = nested[key].type | None
        if validators:
            returned = get_type_hints(validators[-1]).get("return")
            checked.append(_Checked(key, validators, None if returned == typed else typed))
            typed = Any
        # From the hint: with postponed annotations the class's __required_keys__ is empty.
        required = get_origin(annotation) is _REQUIRED
        fields[key] = Required[typed] if required else typed
    compiled = _typed_dict(f"Fast{schema.__name__}", fields, total=False)
    return _Compiled(compiled, tuple(checked), nested)


_EVENT = _compile(EVENT_SCHEMA)
_BATCH = _typed_dict(
    "FastBatch",
    {
        "events": Required[
            Annotated[_list[_EVENT.type], msgspec.Meta(min_length=1, max_length=MAX_BATCH_EVENTS)]
        ],
        "sent_at": Any,
    },
    total=False,
)
_DECODERS = {"single": msgspec.json.Decoder(_EVENT.type), "batch": msgspec.json.Decoder(_BATCH)}


class _Declined(Exception):
    """Something the slow path must judge."""


@dataclass(frozen=True, slots=True)
class Accepted:
    records: list[dict[str, Any]]  # every event of the body, as validate_events makes them
    sent_at_text: str | None  # for the envelope, as the client sent it


def accept(kind: Kind, raw: bytes, received_at: datetime) -> Accepted | None:
    """Every event of a native body of KIND accepted, or None for the slow path to judge."""
    if len(raw) > MAX_REQUEST_BYTES or _ESCAPED_COLON.search(raw):
        return None
    try:
        document = _DECODERS[kind].decode(raw)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested past the stack
        return None
    if _ENCODER.encode(document).count(b":") != raw.count(b":"):
        return None  # a key msgspec dropped: unknown or repeated
    sent_text = document.get("sent_at")  # the event's or the batch's, as the client sent it
    try:
        if kind == "single":
            events = [document]
            batch_sent = None
        else:
            events = document["events"]
            batch_sent = None if sent_text is None else _timestamp(sent_text)
        rules = EventRules(received_at, batch_sent)
        records = [_record(event, rules) for event in events]
    except _Declined:
        return None
    return Accepted(records, sent_text if isinstance(sent_text, str) else None)


def _timestamp(value: object) -> datetime:
    try:
        moment = parse_timestamp(value)
        moment.astimezone(UTC)  # the load reads it in UTC
    except (ValueError, OverflowError):
        raise _Declined from None
    return moment


def _record(event: dict[str, Any], rules: EventRules) -> dict[str, Any]:
    # The decoded event is this call's own: it becomes the record in place, as validate_events
    # makes its record from pydantic's copy. Its properties and extra are not changed.
    _validate_fields(event, _EVENT)
    if rules.check(event, event, []):
        raise _Declined
    return event


def _validate_fields(value: dict[str, Any], compiled: _Compiled) -> None:
    """Give VALUE's validated fields (and theirs in nested objects) what their validators make."""
    for check in compiled.checked:
        if check.key in value:
            item = value[check.key]
            try:
                for validator in check.validators:
                    item = validator(item)
                value[check.key] = item if check.type is None else msgspec.convert(item, check.type)
            except (ValueError, TypeError, msgspec.ValidationError):
                raise _Declined from None
    for key, inner in compiled.nested.items():
        if value.get(key) is not None:
            _validate_fields(value[key], inner)
