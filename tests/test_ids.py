"""Request ids are random (v4) UUIDs; CloudTrail event ids are time-ordered (v7) UUIDs,
so records insert at the end of the event-id index. Neither repeats."""

from __future__ import annotations

import time
import uuid

from bastion import ids


def _parsed(text: str) -> uuid.UUID:
    parsed = uuid.UUID(text)
    assert str(parsed) == text  # lower-case, 8-4-4-4-12
    assert parsed.variant == uuid.RFC_4122
    return parsed


def test_request_ids_are_random_version_4_uuids() -> None:
    assert {_parsed(ids.request_id()).version for _ in range(2000)} == {4}


def test_event_ids_are_version_7_uuids_that_sort_by_time() -> None:
    before_ms = time.time_ns() // 1_000_000
    drawn = [ids.event_id() for _ in range(20_000)]  # spans several milliseconds
    after_ms = time.time_ns() // 1_000_000
    stamps = []
    for text in drawn:
        parsed = _parsed(text)
        assert parsed.version == 7
        stamps.append(parsed.int >> 80)  # the Unix-milliseconds field
    assert before_ms <= stamps[0] and stamps[-1] <= after_ms
    assert stamps == sorted(stamps)  # drawn in time order
    by_text = sorted(range(len(drawn)), key=drawn.__getitem__)
    assert [stamps[i] for i in by_text] == stamps  # text order is time order


def test_ids_do_not_repeat() -> None:
    for make in (ids.request_id, ids.event_id):
        drawn = {make() for _ in range(50_000)}
        assert len(drawn) == 50_000
