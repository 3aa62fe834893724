"""The processes a benchmark runs: servers on free ports, the load generator,
and a Redis to run against."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"

# the tests' process helpers (ports, waiting, a redis-server keeping nothing)
sys.path.insert(0, str(ROOT / "tests"))
from fixtures.processes import free_port, start_redis, wait_until  # noqa: E402


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
    proc, port = start_redis(tmp)
    try:
        print(f"(no Redis at {url}: started redis-server on port {port})")
        yield f"redis://{HOST}:{port}/0"
    finally:
        proc.terminate()
        proc.wait()


@contextlib.contextmanager
def workspace(prefix: str, redis_url: str) -> Iterator[tuple[LoadGen, Path, str]]:
    """What a bench's ``main`` runs in: the load generator, a temporary
    directory and a Redis (``redis_url``, or one started here); all gone after."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    loadgen = LoadGen()
    try:
        with redis_server(redis_url, tmp) as url:
            yield loadgen, tmp, url
    finally:
        loadgen.close()
        shutil.rmtree(tmp, ignore_errors=True)


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
