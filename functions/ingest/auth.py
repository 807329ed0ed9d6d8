"""Write-key authentication: which source, if any, a request's key belongs to.

A key may arrive as `Authorization: Bearer KEY`, as the user name of HTTP Basic (what a URL like
https://KEY@host gives), or as `?key=KEY` (navigator.sendBeacon cannot set headers).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

CHALLENGE = 'Bearer realm="beacon", Basic realm="beacon"'


def key_from_authorization(header: str | None) -> str | None:
    """The write key in an Authorization header, or None when absent or malformed."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, _password = decoded.partition(":")
        return user or None
    return None


def source_for_key(candidate: str | None, write_keys: Mapping[str, str]) -> str | None:
    """The source whose key equals `candidate`, compared in constant time.

    Every key is compared, with no early exit, so the response time does not reveal how many
    keys exist or which one came close.
    """
    if not candidate:
        return None
    given = candidate.encode("utf-8")
    found: str | None = None
    for key, source in write_keys.items():
        if hmac.compare_digest(given, key.encode("utf-8")):
            found = source
    return found


def authenticate(
    authorization: str | None, query_key: str | None, write_keys: Mapping[str, str]
) -> str | None:
    """The request's source: a header key takes precedence over `?key=`."""
    return source_for_key(key_from_authorization(authorization) or query_key, write_keys)
