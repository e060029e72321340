"""pytest fixtures for testing code against Bastion (registered as a `pytest11` plugin).

- `bastion_server` (session): a development-mode server on a free port with a temporary
  data directory, or the server at `BASTION_ENDPOINT` when that is set;
- `bastion_reset`: resets every service before the test (add it to `autouse` fixtures
  or `usefixtures` for isolation);
- `bastion_client`: a factory, `bastion_client("secretsmanager")` -> a boto3 client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bastion.testing import BastionEndpoint, running


@pytest.fixture(scope="session")
def bastion_server() -> Iterator[BastionEndpoint]:
    with running() as endpoint:
        yield endpoint


@pytest.fixture
def bastion_reset(bastion_server: BastionEndpoint) -> BastionEndpoint:
    bastion_server.reset()
    return bastion_server


@pytest.fixture
def bastion_client(bastion_server: BastionEndpoint) -> Callable[..., Any]:
    def make(service: str, **kwargs: Any) -> Any:
        return bastion_server.client(service, **kwargs)

    return make
