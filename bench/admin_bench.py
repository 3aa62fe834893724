"""How fast the admin UI answers with 10,000 incidents in the store.

Seeds a SQLite store with 10,000 incidents (copies of what the responder
makes of the example storm: real alerts, signals, decisions with layer
traces and timelines; spread over the last 30 days, over every incident
type of the catalogue, the three environments, three severities, 60 nodes,
mostly resolved), starts ``robot-sre serve`` on 127.0.0.1 over it,
logs in through the form like a browser and times, over HTTP:

* the incidents list (``/admin/incidents``, first page and a filtered page),
* one incident page,
* the rules list (``/admin/rules``, with a custom rule),
* the automation page (``/admin/automation``: pauses, modes and the
  promotion readiness, which reads every incident),
* a 7-day backtest of an unsaved node_disk_pressure rule that escalates
  severity and tightens an action (the costly case: every candidate action
  is decided twice per matched incident) — ``POST /admin/rules/{id}/backtest``.

Targets (the issue's): p95 under 300 ms for pages, under 2 s for the backtest.

``python -m bench.admin_bench [--incidents N] [--repeat N]``; ``run()``
returns the printed lines (``bench.run`` may include them).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.harness import HOST, ROOT, free_port, wait_until
from responder.records.incident import Incident, ResourceScope
from responder.records.levels import Environment, Severity
from responder.records.lifecycle import IncidentState
from responder.store import IncidentFilter, open_store
from responder.taxonomy import builtin_taxonomy

STORM = sorted((ROOT / "examples" / "storm").glob("*.json"))
INCIDENTS = 10_000
DAYS = 30
REPEAT = 30
BACKTEST_REPEAT = 10
TARGET_PAGE_P95_MS = 300.0
TARGET_BACKTEST_P95_MS = 2000.0
ADMIN, PASSWORD = "bench", "bench password 1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _templates(db: str) -> list[Incident]:
    """What the responder makes of the example storm."""
    from starlette.testclient import TestClient

    from responder.app import create_app
    from responder.settings import Settings

    app = create_app(Settings(store_url=db, api_auth="off"))
    with TestClient(app) as client:
        for path in STORM:
            client.post("/webhooks/alertmanager", content=path.read_bytes())
        runtime = app.state.runtime
        wait_until(lambda: runtime.store.queue_depth() == 0, 30, "the storm to be processed")
        time.sleep(0.5)
        return runtime.store.list_incidents(IncidentFilter(limit=100))


def seed(db: str, count: int) -> float:
    """Write ``count`` incidents; return the seconds it took."""
    templates = [t for t in _templates(db) if t.domain]
    taxonomy = builtin_taxonomy()
    types = list(taxonomy.incident_types.values())
    store = open_store(db)
    now = datetime.now(UTC)
    environments = list(Environment)
    severities = list(Severity)
    started = time.perf_counter()
    try:
        for index in range(count):
            template = templates[index % len(templates)]
            kind = types[index % len(types)]
            created = now - timedelta(seconds=index * DAYS * 86400 / count)
            node = f"10.0.{index % 60 // 10}.{200 + index % 10}"
            copy = template.model_copy(
                deep=True,
                update={
                    "id": f"bench{index:06d}",
                    "incident_type": kind.id,
                    "domain": kind.domain,
                    "display_name": kind.display_name,
                    "correlation_key": f"{kind.id}:{node}#{index}",
                    "resource_scope": ResourceScope(kind="node", name=node),
                    "labels": {**template.labels, "node": node},
                    "environment": environments[index % 3],
                    "severity": severities[(index // 3) % 3],
                    # one in fifty still open, as in a store that keeps history
                    "state": IncidentState.triaged if index % 50 == 0 else IncidentState.resolved,
                    "created_at": created,
                    "updated_at": created,
                },
            )
            store.save_incident(copy)
    finally:
        store.close()
    return time.perf_counter() - started


def _timed(call: Callable[[], httpx.Response], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            raise RuntimeError(f"{response.request.url}: {response.status_code}")
    return times


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[-1]


def run(incidents: int = INCIDENTS, repeat: int = REPEAT) -> list[str]:
    """Seed, serve, measure; the report lines, PASS/FAIL per target."""
    lines = [f"== admin UI with {incidents} incidents (SQLite, one robot-sre serve on {HOST})"]
    with tempfile.TemporaryDirectory(prefix="admin-bench-") as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        seconds = seed(db, incidents)
        lines.append(f"seeded {incidents} incidents in {seconds:.1f} s")
        port = free_port()
        env = {
            **os.environ,
            "ROBOT_SRE_STORE_URL": db,
            "ROBOT_SRE_ADMIN_USER": ADMIN,
            "ROBOT_SRE_ADMIN_PASSWORD": PASSWORD,
            "ROBOT_SRE_LOG_LEVEL": "warning",
        }
        env.pop("ROBOT_SRE_CONFIG", None)
        log = Path(tmp) / "responder.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "responder.cli", "serve", "--port", str(port)],
                env=env,
                cwd=tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://{HOST}:{port}"
        try:

            def ready() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"responder exited: {log.read_text()[-2000:]}")
                try:
                    return httpx.get(f"{url}/readyz", timeout=0.5).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(ready, 30, "robot-sre serve")
            lines += _measure(url, repeat)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # its worker may be mid-way through polling 10,000 incidents
                proc.kill()
                proc.wait()
                lines.append("(the responder did not stop within 10 s of SIGTERM; killed)")
    return lines


def _measure(url: str, repeat: int) -> list[str]:
    with httpx.Client(base_url=url, timeout=60, headers={"Origin": url}) as client:
        form = CSRF.search(client.get("/admin/login").text)
        assert form is not None
        client.post(
            "/admin/login",
            data={"username": ADMIN, "password": PASSWORD, "csrf_token": form.group(1)},
        )
        page = client.get("/admin/rules")
        found = CSRF.search(page.text)
        if found is None:
            raise RuntimeError("login failed")
        csrf = found.group(1)
        cloned = client.post(
            "/admin/rules/builtin.node_disk_pressure/clone",
            data={"csrf_token": csrf},
            follow_redirects=False,
        )
        rule = cloned.headers["location"].split("?")[0]
        incident = "/admin/incidents/bench000042"
        draft = {
            "csrf_token": csrf,
            "version": "1",
            "name": "bench",
            "owner": ADMIN,
            "enabled": "on",
            "environment_scope": ["demo", "staging", "production"],
            "threshold_expression": "incident.firing_alerts >= 1",
            "severity": "critical",
            "profile.delete_completed_pods": "approval",
            "days": "7",
        }
        checks: list[tuple[str, Callable[[], httpx.Response], int, float]] = [
            ("incidents list", lambda: client.get("/admin/incidents"), repeat, TARGET_PAGE_P95_MS),
            (
                "incidents list, critical, last 7 days",
                lambda: client.get(
                    "/admin/incidents",
                    params={
                        "severity": "critical",
                        "since": (datetime.now(UTC) - timedelta(days=7)).date().isoformat(),
                    },
                ),
                repeat,
                TARGET_PAGE_P95_MS,
            ),
            ("incident page", lambda: client.get(incident), repeat, TARGET_PAGE_P95_MS),
            ("rules list", lambda: client.get("/admin/rules"), repeat, TARGET_PAGE_P95_MS),
            (
                "automation page (readiness)",
                lambda: client.get("/admin/automation"),
                repeat,
                TARGET_PAGE_P95_MS,
            ),
            (
                "backtest, 7 days",
                lambda: client.post(f"{rule}/backtest", data=draft),
                BACKTEST_REPEAT,
                TARGET_BACKTEST_P95_MS,
            ),
        ]
        lines = [f"{'what':<36} {'p50 ms':>8} {'p95 ms':>8} {'target':>8}  verdict"]
        for name, call, times_, target in checks:
            call()  # warm up
            times = _timed(call, times_)
            p95 = _p95(times)
            verdict = "PASS" if p95 < target else "FAIL"
            lines.append(
                f"{name:<36} {statistics.median(times):>8.1f} {p95:>8.1f} {target:>8.0f}  {verdict}"
            )
        figures = re.findall(
            r'id="bt-(\w+)">(\d+)<', client.post(f"{rule}/backtest", data=draft).text
        )
        lines.append("  its figures: " + ", ".join(f"{k} {v}" for k, v in figures))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=INCIDENTS)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    args = parser.parse_args(argv)
    for line in run(args.incidents, args.repeat):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
