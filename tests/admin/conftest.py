"""An admin UI over a responder fed the example storm (on the storm's
emulated cluster), with one user per role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fixtures.demo_world import storm_world
from fixtures.rigs import post_storm
from starlette.testclient import TestClient

from responder.accounts.models import Role
from responder.app import create_app
from responder.settings import Settings

PASSWORD = "correct horse battery"
USERS = {"root": Role.admin, "olga": Role.operator, "abe": Role.approver, "vera": Role.viewer}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("admin")
    with storm_world(tmp) as world:
        app = create_app(
            Settings(
                store_url=f"sqlite:///{tmp}/s.db",
                kubeconfig=str(world.kubeconfig),
                dry_run=False,
                admin_user="root",
                admin_password=PASSWORD,
                # these pages are about answering approvals (roles, CSRF, windows), not
                # about when the ladder raises them: every ask of the storm is pending at once
                ladder_holds_asks=False,
            )
        )
        with TestClient(app, base_url="http://127.0.0.1:8080") as client:
            post_storm(client)
            runtime = app.state.runtime
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
