"""The server's ids (functions/ids.py): valid version 4 UUIDs, never repeated, not after fork."""

from __future__ import annotations

import os
import uuid

from functions.ids import uuid4_hex, uuid4_text

DRAWS = 3 * 256  # ids past several draws of the pool


def test_text_ids_are_canonical_version_4_uuids() -> None:
    for _ in range(DRAWS):
        text = uuid4_text()
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text


def test_hex_ids_are_version_4_uuids_in_32_digits() -> None:
    for _ in range(DRAWS):
        text = uuid4_hex()
        parsed = uuid.UUID(hex=text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert parsed.hex == text


def test_ids_do_not_repeat_across_draws_or_forms() -> None:
    drawn = [uuid4_hex() for _ in range(DRAWS)] + [
        uuid4_text().replace("-", "") for _ in range(DRAWS)
    ]
    assert len(set(drawn)) == len(drawn)


def test_a_forked_child_draws_its_own_ids() -> None:
    uuid4_hex()  # the parent's pool holds ids still to hand out
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write, "".join(uuid4_hex() for _ in range(8)).encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    with os.fdopen(read, "rb") as pipe:
        sent = pipe.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0
    childs = {sent[i : i + 32] for i in range(0, len(sent), 32)}
    parents = {uuid4_hex() for _ in range(8)}
    assert len(childs) == 8
    assert not childs & parents
