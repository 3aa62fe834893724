"""Events counted per fixed window in the store, so that every replica
counts the same events and a restart forgets none: rate limits (MCP
proposals) and storm control (chat messages per channel)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from responder.store.base import Store


@dataclass(eq=False)
class WindowCounter:
    """How many times each subject was counted in the current window of
    ``seconds`` (windows of the wall clock, alike on every replica)."""

    store: Store
    name: str
    seconds: float
    clock: Callable[[], float] = time.time

    def add(self, subject: str) -> tuple[int, float]:
        """Count one for ``subject``; return its count in this window, this
        one included, and the seconds until the window ends."""
        now = self.clock()
        window = int(now // self.seconds)
        # hashed: a subject may be anybody's text (a client name)
        digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
        count = self.store.increment(f"{self.name}:{digest}:{window}", self.seconds * 2)
        return count, (window + 1) * self.seconds - now

    def seconds_left(self) -> float:
        """Until the current window ends."""
        return self.seconds - (self.clock() % self.seconds)
