"""The Redis connection every part of the Redis store shares: key names,
and Redis errors turned into ``StoreUnavailable``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import cast
from urllib.parse import parse_qsl, urlsplit

import redis
from redis.commands.core import Script
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

from responder.store.base import StoreUnavailable
from responder.store.redis import scripts
from responder.store.urls import redact_url

PAGE = 1000
Arg = str | int | float
"""one argument of a Redis command or script"""
# Server replies that mean "cannot serve or cannot write durably right now".
_UNAVAILABLE_REPLIES = ("MISCONF", "NOREPLICAS", "MASTERDOWN", "CLUSTERDOWN", "LOADING")


def password_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.password:
        return parts.password
    for key, value in parse_qsl(parts.query):
        if key.lower() == "password" and value:
            return value
    return None


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def score(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def chunks(items: Sequence[str], size: int = PAGE) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class Scripts:
    """The Lua scripts, registered once per client (sent by their SHA,
    loaded again by redis-py when the server answers NOSCRIPT)."""

    claim: Script
    renew_leases: Script
    delete_if: Script
    put_document: Script
    get_document: Script
    delete_document: Script
    list_documents: Script
    append_audit: Script
    commit: Script
    acquire_locks: Script
    release_locks: Script
    lock_open_incidents: Script

    @classmethod
    def register(cls, client: redis.Redis) -> Scripts:
        return cls(
            **{
                f.name: client.register_script(getattr(scripts, f.name.upper()))
                for f in fields(cls)
            }
        )


class RedisConnection:
    """One ``redis.Redis`` client under a namespace."""

    def __init__(self, client: redis.Redis, namespace: str = "robot-sre", url: str = "") -> None:
        if not namespace or "{" in namespace or "}" in namespace:
            raise ValueError(f"invalid Redis namespace {namespace!r}: non-empty, no braces")
        self._client = client
        self.namespace = namespace
        self.url = redact_url(url) if url else "redis"
        self._password = password_of(url) if url else None
        self._scripts = Scripts.register(client)

    def _key(self, tag: str, *rest: str) -> str:
        return ":".join((self.namespace, f"{{{tag}}}", *rest))

    def _describe(self, exc: BaseException) -> str:
        detail = str(exc) or type(exc).__name__
        if self._password:
            detail = detail.replace(self._password, "***")
        return f"redis {self.url} unavailable: {detail}"

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn "the server cannot be reached or cannot write" into StoreUnavailable."""
        try:
            yield
        except (
            ConnectionError,
            TimeoutError,
            ReadOnlyError,
            OutOfMemoryError,
            ClusterDownError,
            TryAgainError,
        ) as exc:
            raise StoreUnavailable(self._describe(exc)) from exc
        except ResponseError as exc:
            if str(exc).startswith(_UNAVAILABLE_REPLIES):
                raise StoreUnavailable(self._describe(exc)) from exc
            raise

    def ping(self) -> None:
        with self._guard():
            self._client.ping()

    def volatility(self) -> str | None:
        with self._guard():
            try:
                config = cast(dict[str, str], self._client.config_get("appendonly"))
                config.update(cast(dict[str, str], self._client.config_get("save")))
            except ResponseError:  # CONFIG renamed or refused (a managed Redis)
                return None
        appendonly, save = (text(config.get(k, "")) for k in ("appendonly", "save"))
        if appendonly == "yes" or save.strip():
            return None
        return (
            f'Redis at {self.url} keeps nothing on disk (appendonly no, save ""):'
            " if it restarts, every accepted alert not yet processed is lost"
        )

    def close(self) -> None:
        self._client.close()
        self._client.connection_pool.disconnect()
