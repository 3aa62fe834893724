"""Schemathesis over ``/openapi.json``: every documented operation, called
with generated input and an unscoped admin token (so that the handlers run,
not only the guard), answers without a server error and as documented
(status codes, content types, response bodies).

The short run in ``make test`` tries ``FUZZ_API_EXAMPLES`` (default 15) inputs
an operation; ``make fuzz`` runs the long one.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err
from starlette.applications import Starlette

from responder.accounts.models import Role
from responder.app import create_app
from responder.settings import Settings

EXAMPLES = int(os.environ.get("FUZZ_API_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Starlette, str]:
    db = tmp_path_factory.mktemp("fuzz") / "s.db"
    app = create_app(
        Settings(
            store_url=f"sqlite:///{db}", admin_user="root", admin_password="correct horse battery"
        )
    )
    accounts = app.state.runtime.accounts
    accounts.prepare()
    _, token = accounts.tokens.create("fuzzer", Role.admin, (), "test", "test")
    return app, token


def test_every_operation_answers_as_documented(fuzzed_app: tuple[Starlette, str]) -> None:
    app, token = fuzzed_app
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    tried = []
    for result in api.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            call()
        except Exception as exc:
            exc.add_note(f"operation: {operation.label}")
            raise
        tried.append(operation.label)
    # every route of the API is documented, so fuzzed
    assert len(tried) >= 28, tried
