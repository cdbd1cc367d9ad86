"""logging (QueueHandler, dictConfig), structlog, loguru and asyncio,
each delivering into the real agent."""

from __future__ import annotations

import asyncio
import logging
import logging.config
import logging.handlers
import queue
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

import logflux
import logflux.loguru
import logflux.structlog
from tests.agentproc import Agent, payloads

MakeClient = Callable[..., logflux.Client]


@pytest.fixture
def fresh_logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("itest")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    for h in list(log.handlers):
        log.removeHandler(h)


def test_handler_maps_levels_metadata_and_tracebacks(agent: Agent, make_client: MakeClient,
                                                     fresh_logger: logging.Logger) -> None:
    c = make_client(address=agent.addr)
    fresh_logger.addHandler(logflux.Handler(c))
    logging.addLevelName(25, "NOTICEISH")
    fresh_logger.debug("d")
    fresh_logger.info("charged %s", "ana", extra={"order_id": "42", "count": 3})
    fresh_logger.warning("w")
    fresh_logger.error("e")
    fresh_logger.critical("c")
    fresh_logger.log(25, "custom")
    fresh_logger.log(45, "between error and critical")
    fresh_logger.info("")
    try:
        raise ValueError("bad value")
    except ValueError:
        fresh_logger.exception("failed")
    assert c.flush(10)
    got = {e["payload"]: e for e in agent.wait_stored(9)}
    assert {p: got[p]["logLevel"] for p in ("d", "charged ana", "w", "e", "c", "custom",
                                             "between error and critical")} == {
        "d": 8, "charged ana": 7, "w": 5, "e": 4, "c": 3, "custom": 5, "between error and critical": 3}
    md = got["charged ana"]["metadata"]
    assert md["logger"] == "itest" and md["order_id"] == "42" and md["count"] == "3"
    assert md["function"] == "test_handler_maps_levels_metadata_and_tracebacks"
    assert md["module"] == "test_integrations" and md["line"].isdigit()
    assert md["thread"] == "MainThread" and md["process"] == "MainProcess"
    f = got["failed"]
    assert f["logLevel"] == 4 and "ValueError: bad value" in f["metadata"]["exception"]
    assert "(empty)" in got


def test_handler_behind_queue_listener(agent: Agent, make_client: MakeClient,
                                       fresh_logger: logging.Logger) -> None:
    c = make_client(address=agent.addr)
    q: queue.Queue[logging.LogRecord] = queue.Queue()
    listener = logging.handlers.QueueListener(q, logflux.Handler(c))
    fresh_logger.addHandler(logging.handlers.QueueHandler(q))
    listener.start()
    try:
        for i in range(300):
            fresh_logger.info("queued %d", i, extra={"i": i})
    finally:
        listener.stop()  # drains the queue into the handler
    assert c.flush(10)
    stored = agent.wait_stored(300)
    assert sorted(payloads(stored)) == sorted(f"queued {i}" for i in range(300))
    assert all(e["metadata"]["logger"] == "itest" and e["metadata"]["i"] == e["payload"].split()[1]
               for e in stored)


def test_dict_config(agent: Agent, fresh_logger: logging.Logger) -> None:
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"agent": {"class": "logflux.Handler", "level": "INFO", "source": "dictconfig",
                               "address": agent.addr, "flush_interval": 0.05}},
        "loggers": {"itest": {"handlers": ["agent"], "level": "DEBUG", "propagate": False}},
    })
    fresh_logger.debug("filtered by the handler's level")
    fresh_logger.info("from dictConfig")
    (h,) = [h for h in fresh_logger.handlers if isinstance(h, logflux.Handler)]
    assert h.client.flush(10)
    h.close()
    stored = agent.wait_stored(1)
    assert payloads(stored) == ["from dictConfig"] and stored[0]["source"] == "dictconfig"


def test_structlog(agent: Agent, make_client: MakeClient) -> None:
    import structlog

    c = make_client(address=agent.addr)
    log = structlog.wrap_logger(logflux.structlog.LoggerFactory(c)(),
                                processors=[structlog.processors.add_log_level, logflux.structlog.render])
    log.info("user logged in", user="ana", attempts=2)
    log.warning("slow")
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("broke")
    assert c.flush(10)
    got = {e["payload"]: e for e in agent.wait_stored(3)}
    assert got["user logged in"]["logLevel"] == 7
    assert got["user logged in"]["metadata"] == {"user": "ana", "attempts": "2"}
    assert got["slow"]["logLevel"] == 5
    assert got["broke"]["logLevel"] == 4 and "ZeroDivisionError" in got["broke"]["metadata"]["exception"]


def test_loguru(agent: Agent, make_client: MakeClient) -> None:
    from loguru import logger

    c = make_client(address=agent.addr)
    sink = logflux.loguru.Sink(c)
    hid = logger.add(sink, level="DEBUG")
    try:
        logger.bind(request_id="r1").info("from loguru {}", 1)
        logger.success("done")
        logger.debug("dbg")
        try:
            raise KeyError("k")
        except KeyError:
            logger.exception("oops")
        async def complete() -> None:
            await logger.complete()  # awaits the sink's complete(): the agent confirmed

        asyncio.run(complete())
        assert c.stats().confirmed == 4
    finally:
        logger.remove(hid)
    got = {e["payload"]: e for e in agent.wait_stored(4)}
    assert got["from loguru 1"]["logLevel"] == 7 and got["from loguru 1"]["metadata"]["request_id"] == "r1"
    assert got["done"]["logLevel"] == 6 and got["dbg"]["logLevel"] == 8
    assert got["oops"]["logLevel"] == 4 and "KeyError" in got["oops"]["metadata"]["exception"]


def test_asyncio_logging_and_aflush(agent: Agent, make_client: MakeClient) -> None:
    c = make_client(address=agent.addr)

    async def worker(n: int) -> None:
        for i in range(200):
            c.log(f"task {n} entry {i}")
            if i % 50 == 0:
                await asyncio.sleep(0)

    async def main() -> bool:
        await asyncio.gather(*(worker(n) for n in range(5)))
        return await c.aflush(10)

    assert asyncio.run(main())
    assert sorted(payloads(agent.wait_stored(1000))) == sorted(
        f"task {n} entry {i}" for n in range(5) for i in range(200))


def test_aflush_does_not_block_the_event_loop(make_client: MakeClient, tmp_path) -> None:
    # A listener that accepts and never answers: the flush waits its whole
    # timeout, while the loop keeps running other tasks.
    path = str(tmp_path / "silent.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen()
    accepted: list[socket.socket] = []
    t = threading.Thread(target=lambda: accepted.append(srv.accept()[0]), daemon=True)
    t.start()
    try:
        c = make_client(address="unix://" + path)
        c.log("never confirmed")

        async def main() -> tuple[bool, int]:
            ticks = 0
            done = False

            async def ticker() -> None:
                nonlocal ticks
                while not done:
                    ticks += 1
                    await asyncio.sleep(0.01)

            tk = asyncio.create_task(ticker())
            ok = await c.aflush(timeout=0.5)
            done = True
            await tk
            return ok, ticks

        ok, ticks = asyncio.run(main())
        assert ok is False
        assert ticks >= 5, "the event loop did not run while aflush waited"
    finally:
        for s in accepted:
            s.close()
        srv.close()
