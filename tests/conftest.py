"""Session fixtures that start real parts. A missing part fails the test with
the install step; nothing is skipped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.alertmanager import alertmanager  # noqa: F401  (a fixture, registered here)
from fixtures.backends import Backend
from fixtures.executors import serve_state
from fixtures.http_stub import StubServer
from fixtures.processes import port_answers, start_redis
from fixtures.redis_namespace import drop_redis_namespace

from responder.store import Store, open_store


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's redis-server on 127.0.0.1:6379, or one started here."""
    if port_answers("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/0"
        return
    proc, port = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()


@pytest.fixture
def redis_namespace(redis_url: str) -> Iterator[str]:
    """A unique Redis namespace, its keys removed afterwards."""
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    yield namespace
    drop_redis_namespace(redis_url, namespace)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store in ``tmp_path``."""
    store = open_store(f"sqlite:///{tmp_path}/state.db")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store of each backend (Redis keys under a unique namespace)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_store")
        return
    url = request.getfixturevalue("redis_url")
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    backend = open_store(url, namespace=namespace)
    try:
        yield backend
    finally:
        backend.close()
        drop_redis_namespace(url, namespace)


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Where a responder process keeps its state: a SQLite file in ``tmp_path``
    or a unique namespace in the real Redis (removed afterwards)."""
    if request.param == "sqlite":
        yield Backend.sqlite(tmp_path)
        return
    chosen = Backend.redis(request.getfixturevalue("redis_url"))
    try:
        yield chosen
    finally:
        chosen.drop()


@pytest.fixture
def executor_stub() -> Iterator[StubServer]:
    """The HTTP stub an ``HttpExecutor`` acts on: every target's state, applies
    answered 200 (``fixtures.executors``)."""
    stub = StubServer().start()
    serve_state(stub)
    try:
        yield stub
    finally:
        stub.stop()
