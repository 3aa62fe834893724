"""A runbook for every incident type (docs/runbooks/), in step with the
taxonomy, served by the responder at /runbooks/, and the shipped alerts'
runbook links pointing at it by default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fixtures.ecosystem import by_kind, render_chart
from starlette.testclient import TestClient

from responder.app import create_app
from responder.settings import Settings
from responder.taxonomy import builtin_taxonomy

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks"
SECTIONS = ("## What the robot does", "## Where to look", "## How to verify", "## How to undo")


def test_every_incident_type_has_a_runbook_with_every_section() -> None:
    types = builtin_taxonomy().incident_types
    assert len(types) == 11
    for type_id in types:
        text = (RUNBOOKS / f"{type_id}.md").read_text(encoding="utf-8")
        assert all(section in text for section in SECTIONS), type_id


def test_the_runbooks_say_what_the_taxonomy_says() -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "runbooks.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_responder_serves_the_runbooks(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings(store_url=f"sqlite:///{tmp_path}/s.db")))
    page = client.get("/runbooks/node_disk_pressure.md")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    assert "Uncordon the node" in page.text
    for wrong in ("no_such_type.md", "..%2F..%2Fpyproject.toml", "node_disk_pressure"):
        assert client.get(f"/runbooks/{wrong}").status_code == 404, wrong


def test_the_alerts_link_to_the_responders_runbooks_by_default() -> None:
    rules = by_kind(render_chart({}), "PrometheusRule")
    links = {
        rule["annotations"]["runbook_url"]
        for doc in rules
        for group in doc["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    base = "http://rs-robot-sre.monitoring.svc:8080/runbooks/"
    assert links and all(link.startswith(base) for link in links)
    assert all((RUNBOOKS / link.removeprefix(base)).is_file() for link in links)
