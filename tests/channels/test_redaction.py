"""Secret-looking alert data is masked on every surface that shows it (the
API, the admin pages, chat) and kept as it came in the store (evidence)."""

from __future__ import annotations

from typing import Any

from fixtures.accounts import login
from fixtures.alerts import DISK
from fixtures.chatops import ChatOpsHarness

from responder.accounts.models import Role
from responder.records.redaction import redact

PASSWORD = "correct horse battery"
# a label named like a secret, and a token inside a value shown everywhere
LEAKY = {**DISK, "node": "10.0.10.9?token=s3cr3t-node-token", "password": "hunter2"}
SECRETS = ("hunter2", "s3cr3t-node-token")


def shows_no_secret(text: str) -> bool:
    return not any(secret in text for secret in SECRETS)


def test_a_secret_looking_label_is_masked_on_the_api_the_admin_page_and_in_chat(
    make_harness: Any,
) -> None:
    harness: ChatOpsHarness = make_harness(telegram=True)
    harness.fire(LEAKY)
    harness.flush()
    [incident] = [i for i in harness.incidents() if "s3cr3t" in i.resource_scope.name]
    # the store keeps what came: it is the evidence
    assert any(a.labels.get("password") == "hunter2" for a in incident.alerts.values())

    listed = harness.client.get("/api/v1/incidents").text
    one = harness.client.get(f"/api/v1/incidents/{incident.id}").text
    assert "[redacted]" in one
    assert shows_no_secret(listed) and shows_no_secret(one)

    slack = [c.text for c in (*harness.slack_api.posted(), *harness.slack_api.updated())]
    telegram = [c.text for c in harness.telegram_api.calls]
    assert slack and telegram
    assert any("[redacted]" in text for text in slack)
    assert all(shows_no_secret(text) for text in (*slack, *telegram))

    accounts = harness.runtime.accounts
    assert accounts is not None
    accounts.users.create("root", PASSWORD, Role.admin, "test", "test")
    login(harness.client, "root", PASSWORD)
    page = harness.client.get(f"/admin/incidents/{incident.id}")
    assert page.status_code == 200 and "password=[redacted]" in page.text
    listing = harness.client.get("/admin/incidents").text
    assert shows_no_secret(page.text) and shows_no_secret(listing)


def test_a_urls_password_is_masked_in_any_text_the_user_and_host_stay() -> None:
    undo = (
        "patch configuration configmap shop/orders-db (value=postgresql://app:s3cret@db:5432/shop)"
    )
    assert redact(undo) == (
        "patch configuration configmap shop/orders-db "
        "(value=postgresql://app:[redacted]@db:5432/shop)"
    )
    assert (
        redact("see https://grafana.example/d/abc?x=1") == "see https://grafana.example/d/abc?x=1"
    )
