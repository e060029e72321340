"""Edge fixtures: Bastion (with its in-process edge polling fast) and upstream apps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_support import Upstream, json_env

from bastion.clock import ManualClock
from support import ThreadServer, make_settings


@pytest.fixture
def edge_server(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ThreadServer]:
    json_env(monkeypatch)
    srv = ThreadServer(make_settings(tmp_path / "data"), clock).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    app = Upstream("a").start()
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def upstream_b() -> Iterator[Upstream]:
    app = Upstream("b").start()
    try:
        yield app
    finally:
        app.stop()
