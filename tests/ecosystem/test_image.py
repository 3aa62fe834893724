"""The container image: ``make image``'s script builds it with Debian's
buildah on a Debian base made here by mmdebstrap (no registry is reachable
from these machines), and ``robot-sre serve`` in it runs as uid 10001,
answers ``/healthz``, processes a webhook post, and writes nothing outside
its state directory and /tmp (so a read-only root holds)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fixtures.processes import free_port, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/robot-sre:test"
STORM = sorted((ROOT / "examples" / "storm").glob("*.json"))
#: what buildah itself writes into a container it runs
BUILDAH_FILES = {"/run/.containerenv", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"}


@pytest.fixture(scope="module")
def buildah(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    for tool in ("buildah", "mmdebstrap"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: scripts/install-system-deps.sh installs it")
    storage = tmp_path_factory.mktemp("buildah")
    flags = f"--root {storage}/root --runroot {storage}/run"
    env = {
        **os.environ,
        "IMAGE_TOOL": "buildah",
        "IMAGE_TOOL_FLAGS": flags,
        "BASE_IMAGE": "local",
        "IMAGE": IMAGE,
    }
    built = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    command = ["buildah", *flags.split(), "--storage-driver", "vfs"]
    yield command
    subprocess.run([*command, "rm", "--all"], capture_output=True)
    shutil.rmtree(storage, ignore_errors=True)


def test_the_image_carries_its_labels_and_runs_as_non_root(buildah: list[str]) -> None:
    inspected = subprocess.run(
        [*buildah, "inspect", "--type", "image", IMAGE], capture_output=True, text=True, check=True
    )
    config = json.loads(inspected.stdout)["OCIv1"]["config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["robot-sre"]
    assert config["Labels"]["org.opencontainers.image.title"] == "robot-sre"
    assert config["Labels"]["org.opencontainers.image.version"] == "0.1.0"


def test_serve_in_the_image_answers_and_processes_a_webhook(
    buildah: list[str], tmp_path: Path
) -> None:
    container = subprocess.run(
        [*buildah, "from", IMAGE], capture_output=True, text=True, check=True
    ).stdout.strip()
    port = free_port()
    marker = tmp_path / "started"
    marker.touch()
    time.sleep(0.05)
    log = (tmp_path / "serve.log").open("wb")
    command = ["robot-sre", "serve", "--host", "127.0.0.1", "--port", str(port)]
    serve = subprocess.Popen(
        [*buildah, "run", "--isolation", "chroot", container, "--", *command],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 60, "robot-sre serve in the image")
        runbook = httpx.get(f"{url}/runbooks/node_disk_pressure.md")
        assert runbook.status_code == 200 and "## How to undo" in runbook.text
        posted = httpx.post(f"{url}/webhooks/alertmanager", content=STORM[0].read_bytes())
        assert posted.status_code == 200
        wait_until(
            lambda: httpx.get(f"{url}/api/v1/incidents").json()["count"] > 0,
            20,
            "the posted alert processed",
        )
        users = subprocess.run(
            ["pgrep", "-u", "10001", "-f", f"robot-sre serve --host 127.0.0.1 --port {port}"],
            capture_output=True,
            text=True,
        )
        assert users.stdout.split(), "robot-sre serve is not running as uid 10001"
        rootfs = subprocess.run(
            [*buildah, "mount", container], capture_output=True, text=True, check=True
        ).stdout.strip()
        written = subprocess.run(
            ["find", rootfs, "-xdev", "-newer", str(marker), "-type", "f"],
            capture_output=True,
            text=True,
        ).stdout.split()
        outside = sorted(
            path
            for path in (p.removeprefix(rootfs) for p in written)
            if path not in BUILDAH_FILES and not path.startswith(("/var/lib/robot-sre/", "/tmp/"))
        )
        assert outside == []
    finally:
        stop_process(serve, timeout=15)
        subprocess.run(
            ["pkill", "-f", f"robot-sre serve --host 127.0.0.1 --port {port}"], capture_output=True
        )
        log.close()
        subprocess.run([*buildah, "umount", container], capture_output=True)
