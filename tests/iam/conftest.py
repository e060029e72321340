"""IAM suite fixtures: one server per test module (tests use names of their own), so the
suite stays fast; `iam_any` runs a module on SQLite and PostgreSQL where storage matters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bastion.clock import ManualClock, SystemClock
from support import ThreadServer, make_settings, postgres_database


def _start(tmp_path_factory: pytest.TempPathFactory, database_url: str = "", **extra):
    data = tmp_path_factory.mktemp("iam") / "data"
    clock = ManualClock(SystemClock().now())
    return ThreadServer(make_settings(data, database_url, **extra), clock).start()


@pytest.fixture(scope="module")
def iam_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    srv = _start(tmp_path_factory)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def iam_any(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadServer]:
    if request.param == "sqlite":
        srv = _start(tmp_path_factory)
        try:
            yield srv
        finally:
            srv.stop()
        return
    with postgres_database() as url:
        srv = _start(tmp_path_factory, url)
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture(scope="module")
def iam(iam_sqlite: ThreadServer):
    return iam_sqlite.client("iam")
