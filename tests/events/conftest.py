"""Fixtures of the event bus tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from events_support import Hook


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()
