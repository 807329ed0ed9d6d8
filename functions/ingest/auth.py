"""Write-key authentication: which source, if any, a request's key belongs to.

A key may arrive as `Authorization: Bearer KEY`, as the user name of HTTP Basic (what a URL like
https://KEY@host gives), or as `?key=KEY` (navigator.sendBeacon cannot set headers).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from functions.credentials import authorization_parts, match_secret

CHALLENGE = 'Bearer realm="beacon", Basic realm="beacon"'


def key_from_authorization(header: str | None) -> str | None:
    """The write key in an Authorization header, or None when absent or malformed."""
    parts = authorization_parts(header)
    if parts is None:
        return None
    scheme, value = parts
    if scheme == "bearer":
        return value
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, _password = decoded.partition(":")
        return user or None
    return None


def authenticate(
    authorization: str | None, query_key: str | None, write_keys: Mapping[str, str]
) -> str | None:
    """The request's source: a header key takes precedence over `?key=`."""
    return match_secret(key_from_authorization(authorization) or query_key, write_keys)
