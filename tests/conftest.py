"""Shared fixtures: every API test runs against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.clock import ManualClock, SystemClock
from support import ThreadServer, make_settings, postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield ""
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock starting at the real time, so botocore's signatures are fresh."""
    return ManualClock(SystemClock().now())


@pytest.fixture
def server(tmp_path: Path, database_url: str, clock: ManualClock) -> Iterator[ThreadServer]:
    srv = ThreadServer(make_settings(tmp_path / "data", database_url), clock).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def sqlite_server(tmp_path: Path, clock: ManualClock) -> Iterator[ThreadServer]:
    srv = ThreadServer(make_settings(tmp_path / "data"), clock).start()
    try:
        yield srv
    finally:
        srv.stop()
