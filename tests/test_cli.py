"""The ``robot-sre`` command line: ``taxonomy`` and ``replay`` against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fixtures.processes import Responder, wait_until

from responder.cli import main
from responder.taxonomy import builtin_taxonomy

DISK_PRESSURE = Path(__file__).parent.parent / "examples" / "storm" / "01-disk-pressure.json"
TOKEN = "replay-test-token"


def _responder(tmp: Path, token: str) -> Responder:
    return Responder(
        {
            "ROBOT_SRE_STORE_URL": f"sqlite:///{tmp}/state.db",
            "ROBOT_SRE_WEBHOOK_TOKEN": token,
            "ROBOT_SRE_CONFIG": "",
            "ROBOT_SRE_LOG_LEVEL": "warning",
        },
        tmp,
    )


@pytest.fixture(scope="module")
def open_responder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Responder]:
    """A responder that takes webhooks without a token."""
    responder = _responder(tmp_path_factory.mktemp("open"), token="").start()
    try:
        yield responder
    finally:
        responder.stop()


@pytest.fixture(scope="module")
def guarded_responder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Responder]:
    """A responder that demands the bearer token ``TOKEN``."""
    responder = _responder(tmp_path_factory.mktemp("guarded"), token=TOKEN).start()
    try:
        yield responder
    finally:
        responder.stop()


@pytest.fixture(autouse=True)
def no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROBOT_SRE_WEBHOOK_TOKEN", raising=False)


def _incident_count(url: str) -> int:
    count: int = httpx.get(f"{url}/api/v1/incidents", timeout=2).json()["count"]
    return count


def test_taxonomy_prints_every_domain_and_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["taxonomy"]) == 0
    out = capsys.readouterr().out
    taxonomy = builtin_taxonomy()
    assert out.startswith(f"Robot SRE taxonomy {taxonomy.version}")
    for domain_id in taxonomy.domains:
        assert f"\n{domain_id} — " in out
    for type_id in taxonomy.incident_types:
        assert f"  {type_id} (" in out


def test_taxonomy_text_lists_each_types_actions(capsys: pytest.CaptureFixture[str]) -> None:
    main(["taxonomy"])
    out = capsys.readouterr().out
    disk = builtin_taxonomy().incident_type("node_disk_pressure")
    assert f"    auto:      {', '.join(disk.auto_allowed)}" in out
    assert f"    approval:  {', '.join(disk.approval_required)}" in out


def test_taxonomy_json_is_the_api_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["taxonomy", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"version", "domains", "incident_types", "actions", "policy_matrix"}
    assert len(document["domains"]) == 8
    assert len(document["incident_types"]) == 11
    assert len(document["policy_matrix"]) == 11


def test_replay_posts_the_file_and_exits_zero(
    open_responder: Responder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(DISK_PRESSURE), "--url", open_responder.url]) == 0
    out = capsys.readouterr().out
    assert f"{DISK_PRESSURE}: 200 " in out
    assert '"accepted":3' in out.replace(" ", "")


def test_replayed_alerts_become_incidents(open_responder: Responder) -> None:
    assert main(["replay", str(DISK_PRESSURE), "--url", open_responder.url + "/"]) == 0
    # two nodes in disk pressure, beyond the blast radius of one: and their node storm
    wait_until(lambda: _incident_count(open_responder.url) == 3, 10, "three incidents")


def test_replay_without_the_required_token_exits_one(
    guarded_responder: Responder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(DISK_PRESSURE), "--url", guarded_responder.url]) == 1
    assert f"{DISK_PRESSURE}: 401 " in capsys.readouterr().out


def test_replay_with_a_wrong_token_exits_one(guarded_responder: Responder) -> None:
    args = ["replay", str(DISK_PRESSURE), "--url", guarded_responder.url, "--token", "nope"]
    assert main(args) == 1


def test_replay_with_the_token_flag_exits_zero(guarded_responder: Responder) -> None:
    args = ["replay", str(DISK_PRESSURE), "--url", guarded_responder.url, "--token", TOKEN]
    assert main(args) == 0


def test_replay_takes_the_token_from_the_environment(
    guarded_responder: Responder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBOT_SRE_WEBHOOK_TOKEN", TOKEN)
    assert main(["replay", str(DISK_PRESSURE), "--url", guarded_responder.url]) == 0


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_serve_refuses_an_unauthenticated_webhook_in_production_and_staging(
    environment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBOT_SRE_ENVIRONMENT", environment)
    monkeypatch.setenv("ROBOT_SRE_STORE_URL", f"sqlite:///{tmp_path}/state.db")
    monkeypatch.setenv("ROBOT_SRE_CONFIG", "")
    done = subprocess.run(
        [sys.executable, "-m", "responder.cli", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "ROBOT_SRE_WEBHOOK_TOKEN" in done.stderr
    assert "ROBOT_SRE_ALLOW_UNAUTHENTICATED_WEBHOOK" in done.stderr


@pytest.mark.parametrize(
    "extra",
    [{"ROBOT_SRE_WEBHOOK_TOKEN": TOKEN}, {"ROBOT_SRE_ALLOW_UNAUTHENTICATED_WEBHOOK": "true"}],
)
def test_serve_starts_in_production_with_a_token_or_the_opt_out(
    extra: dict[str, str], tmp_path: Path
) -> None:
    responder = Responder(
        {
            "ROBOT_SRE_STORE_URL": f"sqlite:///{tmp_path}/state.db",
            "ROBOT_SRE_ENVIRONMENT": "production",
            "ROBOT_SRE_WEBHOOK_TOKEN": "",
            "ROBOT_SRE_CONFIG": "",
            **extra,
        },
        tmp_path,
    ).start()
    try:
        assert httpx.get(f"{responder.url}/readyz", timeout=2).status_code == 200
    finally:
        responder.stop()
