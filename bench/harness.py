"""The processes a benchmark runs: servers on free ports, the load generator,
and a Redis to run against."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (from /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Server:
    """One uvicorn process on a free port, logging to ``log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.argv = [*argv, "--port", str(self.port)]
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(self._ready, 30, f"{self.name} on {self.url} (log: {self.log})")
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid) if self.proc is not None else 0.0

    def stop(self, graceful: bool = True) -> None:
        """SIGTERM and wait (SIGKILL after 5 s); straight SIGKILL unless ``graceful``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if not graceful:
            self.proc.kill()
            self.proc.wait()
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def responder_server(
    backend: str, name: str, tmp: Path, redis_url: str | None, replica: int = 0, **env: str
) -> Server:
    """A ``robot-sre serve`` process on a fresh store: SQLite file ``tmp/name.db``
    or the Redis namespace ``name``; ``env`` adds ROBOT_SRE_* settings. Replicas
    of one name share the store."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ROBOT_SRE_")}
    environ.update(
        ROBOT_SRE_DRY_RUN="true",
        ROBOT_SRE_QUEUE_MAX_DEPTH="10000000",
        ROBOT_SRE_LOG_LEVEL="warning",
        # the load generator sends no token (its check is one constant-time compare)
        ROBOT_SRE_ALLOW_UNAUTHENTICATED_WEBHOOK="true",
    )
    if backend == "sqlite":
        environ["ROBOT_SRE_STORE_URL"] = f"sqlite:///{tmp / name}.db"
    else:
        assert redis_url is not None, "a Redis store needs a Redis"
        environ["ROBOT_SRE_STORE_URL"] = redis_url
        environ["ROBOT_SRE_STORE_NAMESPACE"] = name
    environ.update(env)
    argv = [sys.executable, "-m", "responder.cli", "serve", "--host", HOST]
    return Server(f"responder {backend} #{replica}", argv, environ, tmp / f"{name}-{replica}.log")


class LoadGen:
    """The ``bench.loadgen`` process: one JSON job in, one JSON result out."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, **job: Any) -> dict[str, Any]:
        self.start(**job)
        return self.result()

    def start(self, **job: Any) -> None:
        """Hand the load generator a job; ``result`` waits for its answer."""
        stdin, _ = self._pipes()
        stdin.write(json.dumps(job) + "\n")
        stdin.flush()

    def result(self) -> dict[str, Any]:
        _, stdout = self._pipes()
        line = stdout.readline()
        if not line:
            raise RuntimeError("the load generator exited")
        result: dict[str, Any] = json.loads(line)
        if "failed" in result:
            raise RuntimeError(f"load generator: {result['failed']}")
        return result

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        return self.proc.stdin, self.proc.stdout

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def redis_server(url: str, tmp: Path) -> Iterator[str]:
    """``url`` when its Redis answers; otherwise a redis-server started here."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
        answers = True
    except redis.RedisError:
        answers = False
    finally:
        client.close()
    if answers:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(f"no Redis at {url} and redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_answers(port), 10, "redis-server")
        print(f"(no Redis at {url}: started redis-server on port {port})")
        yield f"redis://{HOST}:{port}/0"
    finally:
        proc.terminate()
        proc.wait()


def delete_namespace(url: str, prefix: str) -> int:
    """Delete every key starting with ``prefix`` (SCAN + DEL); return how many."""
    import redis

    client = redis.Redis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(client.delete(*batch))
                batch = []
        if batch:
            deleted += int(client.delete(*batch))
    finally:
        client.close()
    return deleted
