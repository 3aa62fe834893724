"""``make demo`` as a newcomer runs it: against the emulated cluster the robot
acts on its own (finished pods deleted, the CronJob suspended, nothing
protected touched) and leaves approval requests for a person; without a
cluster (``DEMO_CLUSTER=none``) every action is a dry run."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from fixtures.processes import free_port

ROOT = Path(__file__).resolve().parents[1]


def demo(**env: str) -> str:
    done = subprocess.run(
        [str(ROOT / "scripts" / "demo.sh")],
        env={**os.environ, "DEMO_EXIT": "1", "DEMO_PORT": str(free_port()), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_demo_shows_the_robot_act_on_the_emulated_cluster_and_ask_a_person() -> None:
    out = demo()
    assert "actions: applied to the emulated cluster" in out
    written = re.search(r"== Written to the emulated cluster by the robot: (\d+) change", out)
    assert written is not None and int(written.group(1)) > 0
    assert re.search(r"delete +\d+ x /api/v1/namespaces/(trivy-system|tekton-pipelines)/pods", out)
    assert "patch     1 x /apis/batch/v1/namespaces/trivy-system/cronjobs" in out
    assert "nothing in ingress-nginx or cert-manager" in out
    assert "PROTECTED TOUCHED" not in out
    pending = re.search(r"== Waiting for a person: (\d+) approval request", out)
    assert pending is not None and int(pending.group(1)) > 0
    # the storm and its escalation are still there
    assert "part of node storm" in out


def test_without_a_cluster_the_demo_is_a_dry_run() -> None:
    out = demo(DEMO_CLUSTER="none")
    assert "actions: dry-run" in out
    assert "Written to the emulated cluster" not in out
    assert "== Waiting for a person" in out
