"""``make demo`` as a newcomer runs it: against the emulated cluster the robot
acts on its own (finished pods deleted, the CronJob suspended, nothing
protected touched) and leaves approval requests for a person; without a
cluster (``DEMO_CLUSTER=none``) every action is a dry run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
from fixtures.accounts import csrf_of
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


def test_approving_the_node_action_in_the_admin_ui_changes_the_emulated_node() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    demo = subprocess.Popen(
        [str(ROOT / "scripts" / "demo.sh")],
        env={**os.environ, "DEMO_PORT": str(port)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert demo.stdout is not None
        out = ""
        for line in demo.stdout:
            out += line
            if "The responder keeps running" in line:
                break
        password = re.search(r"user demo, password (\S+)\)", out)
        assert password is not None, out[-2000:]
        with httpx.Client(base_url=url, timeout=10) as admin:
            page = admin.get("/admin/login")
            form = {
                "username": "demo",
                "password": password.group(1),
                "csrf_token": csrf_of(page.text),
            }
            assert admin.post("/admin/login", data=form).status_code == 303
            pending = [
                a
                for a in admin.get("/api/v1/approvals").json()["approvals"]
                if a["state"] == "pending" and (a["target"] or {}).get("kind") == "node"
            ]
            assert pending, "no node action waits for a person"
            csrf = csrf_of(admin.get("/admin/approvals").text)
            answer = admin.post(
                f"/admin/approvals/{pending[0]['id']}/approve",
                data={"csrf_token": csrf, "back": "/admin/approvals"},
            )
            assert answer.status_code == 303 and "result=executed" in answer.headers["location"]
        kubeconfig = ROOT / ".run" / "demo" / "cluster" / "kubeconfig"
        node = httpx.get(
            f"{kube_url(kubeconfig)}/api/v1/nodes/{pending[0]['target']['name']}", timeout=5
        ).json()
        assert node["spec"].get("unschedulable") is True
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=30)
        if demo.stdout is not None:
            demo.stdout.close()


def kube_url(kubeconfig: Path) -> str:
    config = json.loads(kubeconfig.read_text())
    return str(config["clusters"][0]["cluster"]["server"])
