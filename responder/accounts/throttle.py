"""Slowing down password guessing without locking the real user out.

Failures are counted in the store (every replica sees them) per user and
address, per address, and globally; past the free attempts each try waits
exponentially longer. A guesser never slows down the same user from another
address, and an address with no failures may still try."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from responder.store import Store

WINDOW_SECONDS = 900.0


def _name(kind: str, *parts: str) -> str:
    # hashed: user names and addresses are the attacker's text, and the key
    # length stays fixed
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]
    return f"login:{kind}:{digest}"


@dataclass(eq=False)
class LoginThrottle:
    store: Store
    free: int = 5
    address_free: int = 20
    global_limit: int = 300
    window_seconds: float = WINDOW_SECONDS
    max_delay: float = 900.0
    clock: Callable[[], float] = time.time

    def wait_seconds(self, username: str, address: str) -> float:
        """How long this (user name, address) must still wait (0: try now)."""
        now = self.clock()
        waits = [
            self._blocked_until(_name("pair", username, address)),
            self._blocked_until(_name("address", address)),
        ]
        under_attack = self._count(_name("everyone")) > self.global_limit
        if under_attack and self._count(_name("address-failures", address)) > 0:
            waits.append(now + self.window_seconds)
        return max(0.0, max(waits) - now)

    def failed(self, username: str, address: str) -> None:
        self.store.increment(_name("everyone"), self.window_seconds)
        self.store.increment(_name("address-failures", address), self.window_seconds)
        self._fail(_name("pair", username, address), self.free)
        self._fail(_name("address", address), self.address_free)

    def succeeded(self, username: str, address: str) -> None:
        pair = _name("pair", username, address)
        self.store.delete_key(pair)
        self.store.delete_key(_block(pair))

    def _fail(self, key: str, free: int) -> None:
        count = self.store.increment(key, self.window_seconds)
        if count < free:
            return
        delay = min(2.0 ** (count - free), self.max_delay)
        until = self.clock() + delay
        block = _block(key)
        self.store.delete_key(block)
        self.store.set_if_absent(block, repr(until), delay)

    def _blocked_until(self, key: str) -> float:
        found = self.store.get_key(_block(key))
        return float(found) if found is not None else 0.0

    def _count(self, key: str) -> int:
        found = self.store.get_key(key)
        return int(found) if found is not None else 0


def _block(key: str) -> str:
    return key.replace("login:", "login-block:", 1)
