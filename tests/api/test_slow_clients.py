"""A crowd of slow clients cannot take the responder down: with a limit of
1,024 descriptors (a common container default) and 2,000 clients that send
their headers a line at a time (and come back when cut off), ``/healthz``
answers within a second and the log stays small. Connections that send no
headers are closed; requests beyond the in-flight limit get 503."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.backends import Backend
from fixtures.processes import Responder
from starlette.testclient import TestClient

from responder.app import create_app
from responder.settings import Settings

SLOW_CLIENTS = 2_000
DESCRIPTORS = 1_024
ATTACK_SECONDS = 14.0


@pytest.fixture
def many_descriptors() -> Iterator[None]:
    """This test process holds 2,000 sockets itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = SLOW_CLIENTS + 512
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.fail(f"the test needs {wanted} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class SlowCrowd:
    """``SLOW_CLIENTS`` clients trickling header lines, reconnecting when cut off."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connects = 0
        self.cut_off = 0
        self.most_open = 0
        self._open = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> SlowCrowd:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _run(self) -> None:
        await asyncio.gather(*(self._client() for _ in range(SLOW_CLIENTS)))

    async def _client(self) -> None:
        while not self._stop.is_set():
            writer = None
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.connects += 1
                self._open += 1
                self.most_open = max(self.most_open, self._open)
                writer.write(b"GET /api/v1/incidents HTTP/1.1\r\nHost: robot\r\n")
                while not self._stop.is_set():
                    await asyncio.sleep(0.5)
                    writer.write(b"X-Slow: yes\r\n")
                    await writer.drain()
                    if reader.at_eof():
                        break
            except OSError:
                pass
            finally:
                if writer is not None:
                    self._open -= 1
                    self.cut_off += 1
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
            await asyncio.sleep(0.05)


def test_healthz_answers_within_a_second_under_2000_slow_clients(
    tmp_path: Path, many_descriptors: None
) -> None:
    backend = Backend.sqlite(tmp_path)
    responder = Responder(backend.env, tmp_path, descriptor_limit=DESCRIPTORS).start()
    try:
        log_before = responder.log.stat().st_size
        latencies = []
        with SlowCrowd(responder.port) as crowd:
            time.sleep(2.0)  # let the crowd pile up
            deadline = time.monotonic() + ATTACK_SECONDS
            while time.monotonic() < deadline:
                started = time.monotonic()
                answer = httpx.get(f"{responder.url}/healthz", timeout=5.0)
                latencies.append(time.monotonic() - started)
                assert answer.status_code == 200
                time.sleep(0.5)
        log_growth = responder.log.stat().st_size - log_before
        assert responder.proc is not None and responder.proc.poll() is None
    finally:
        responder.stop()
    print(
        f"healthz: {len(latencies)} probes, slowest {max(latencies) * 1000:.0f} ms; "
        f"crowd: {crowd.connects} connects, {crowd.cut_off} cut off, "
        f"{crowd.most_open} open at most; log +{log_growth} bytes"
    )
    assert crowd.most_open >= DESCRIPTORS - 200  # the crowd did fill the server
    assert crowd.connects > SLOW_CLIENTS  # and was cut off to make room
    assert max(latencies) < 1.0
    assert log_growth < 1_000_000


def test_a_connection_that_sends_no_headers_is_closed(tmp_path: Path) -> None:
    stack = contextlib.ExitStack()
    env = {**Backend.sqlite(tmp_path).env, "ROBOT_SRE_HTTP_HEADER_TIMEOUT_SECONDS": "1"}
    responder = Responder(env, tmp_path).start()
    try:
        silent = stack.enter_context(socket.create_connection(("127.0.0.1", responder.port)))
        trickling = stack.enter_context(socket.create_connection(("127.0.0.1", responder.port)))
        trickling.sendall(b"GET /healthz HTTP/1.1\r\n")
        silent.settimeout(5)
        started = time.monotonic()
        assert silent.recv(1) == b""  # closed by the server
        waited = time.monotonic() - started
        trickling.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert trickling.recv(1) == b""
        assert 0.5 < waited < 3.0
        # a request that arrives in time is answered as ever
        assert httpx.get(f"{responder.url}/healthz", timeout=5).status_code == 200
    finally:
        stack.close()
        responder.stop()


def test_requests_beyond_the_in_flight_limit_get_503_but_healthz_does_not(
    tmp_path: Path,
) -> None:
    app = create_app(Settings(store_url=f"sqlite:///{tmp_path}/s.db", max_requests_in_flight=1))
    with TestClient(app) as client:
        limiter: Any = app.middleware_stack
        while not hasattr(limiter, "in_flight"):
            limiter = limiter.app
        limiter.in_flight = 1  # one request being served
        busy = client.get("/api/v1/taxonomy")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert client.get("/healthz").status_code == 200
        limiter.in_flight = 0
        assert client.get("/api/v1/taxonomy").status_code == 200
