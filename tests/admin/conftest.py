"""An admin UI over a responder fed the example storm, with one user per role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from responder.accounts.models import Role
from responder.app import create_app
from responder.settings import Settings

STORM = sorted((Path(__file__).parents[2] / "examples" / "storm").glob("*.json"))
PASSWORD = "correct horse battery"
USERS = {"root": Role.admin, "olga": Role.operator, "abe": Role.approver, "vera": Role.viewer}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("admin") / "s.db"
    app = create_app(
        Settings(
            store_url=f"sqlite:///{db}",
            admin_user="root",
            admin_password=PASSWORD,
            # these pages are about answering approvals (roles, CSRF, windows), not about
            # when the ladder raises them: every ask of the storm is pending at once
            ladder_holds_asks=False,
        )
    )
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        for path in STORM:
            assert (
                client.post("/webhooks/alertmanager", content=path.read_bytes()).status_code == 200
            )
        runtime = app.state.runtime
        deadline = time.monotonic() + 10
        while runtime.store.queue_depth() and time.monotonic() < deadline:
            time.sleep(0.02)
        runtime.accounts.prepare()
        for name, role in USERS.items():
            if name != "root":
                runtime.accounts.users.create(name, PASSWORD, role, "test", "test")
        yield client


@pytest.fixture
def fresh(site: TestClient) -> Iterator[TestClient]:
    """A client of the same site with its own (empty) cookie jar. The site is
    running already (``site`` holds its lifespan): this client only sends
    requests, it does not start the app a second time."""
    client = TestClient(site.app, base_url="http://127.0.0.1:8080")
    try:
        yield client
    finally:
        client.close()
