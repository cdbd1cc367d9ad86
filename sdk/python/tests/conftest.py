from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import logflux
from tests.agentproc import Agent, agent_binary

SECRET = "python-sdk-test-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def agent_bin() -> str:
    return agent_binary()


@pytest.fixture
def agent(agent_bin: str) -> Iterator[Agent]:
    a = Agent(agent_bin).start()
    yield a
    a.cleanup()


@pytest.fixture
def tcp_agent(agent_bin: str) -> Iterator[Agent]:
    a = Agent(agent_bin, secret=SECRET).start()
    yield a
    a.cleanup()


FAST = dict(flush_interval=0.05, min_backoff=0.01, max_backoff=0.1, dial_timeout=2.0, exit_timeout=10.0)


@pytest.fixture
def make_client() -> Iterator[Callable[..., logflux.Client]]:
    made: list[logflux.Client] = []

    def make(**kw: object) -> logflux.Client:
        opts = dict(FAST, source="pytest")
        opts.update(kw)
        c = logflux.Client(**opts)  # type: ignore[arg-type]
        made.append(c)
        return c

    yield make
    for c in made:
        c.close(timeout=2.0)
