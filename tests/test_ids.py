"""Request and event ids are RFC 4122 version-4 UUID strings, and they do not repeat."""

from __future__ import annotations

import uuid

from bastion import ids


def test_ids_are_version_4_uuids_in_canonical_form() -> None:
    for make in (ids.request_id, ids.event_id):
        for _ in range(2000):
            text = make()
            parsed = uuid.UUID(text)
            assert str(parsed) == text  # lower-case, 8-4-4-4-12
            assert parsed.version == 4
            assert parsed.variant == uuid.RFC_4122


def test_ids_do_not_repeat() -> None:
    drawn = {ids.request_id() for _ in range(50_000)}
    assert len(drawn) == 50_000
