"""Slowing down repeated failed logins.

Per user name and per client address: the first ``free`` failures in the
window cost nothing extra; after that each attempt must wait 2^(n - free)
seconds (at most ``max_delay``) after the last failure, and an attempt made
sooner is refused without looking at the password. A success clears the
user name's count. Counts live in the process: each replica throttles on its
own, which bounds guessing per replica and needs no store round trip.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    def __init__(
        self,
        free: int = 5,
        window_seconds: float = 900.0,
        max_delay: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.free = free
        self.window_seconds = window_seconds
        self.max_delay = max_delay
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, _Failures] = {}

    def wait_seconds(self, keys: Iterable[str]) -> float:
        """How long the caller must still wait before trying (0: try now)."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            found = self._failures.get(key)
            if found is None or now - found.last > self.window_seconds:
                continue
            if found.count >= self.free:
                delay = min(2.0 ** (found.count - self.free), self.max_delay)
                wait = max(wait, found.last + delay - now)
        return max(wait, 0.0)

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        if len(self._failures) >= self.max_keys:
            self._forget_old(now)
        for key in keys:
            found = self._failures.get(key)
            if found is None or now - found.last > self.window_seconds:
                self._failures[key] = _Failures(1, now)
            else:
                found.count += 1
                found.last = now

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _forget_old(self, now: float) -> None:
        for key in [k for k, f in self._failures.items() if now - f.last > self.window_seconds]:
            del self._failures[key]
        while len(self._failures) >= self.max_keys:
            self._failures.pop(next(iter(self._failures)))
