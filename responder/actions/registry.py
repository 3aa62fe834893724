"""Which executor carries out which action.

Backends register the executors the settings configure; the built-in ones act
on the responder's own records and are always there. An action nobody
registered is "not available". Human-only actions can never be registered:
nothing in the robot carries them out."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from responder.actions.executor import Configured, Executor
from responder.actions.incident import IncidentSuppressor
from responder.store import Store
from responder.taxonomy.models import ActionClass, Taxonomy


class RegistryError(ValueError):
    pass


class ExecutorRegistry:
    def __init__(
        self,
        taxonomy: Taxonomy,
        executors: Iterable[Executor] = (),
        fallbacks: Iterable[Executor] = (),
    ) -> None:
        """``fallbacks`` serve the actions none of ``executors`` serves."""
        self.taxonomy = taxonomy
        self._by_action: dict[str, Executor] = {}
        for executor in executors:
            self.register(executor)
        for fallback in fallbacks:
            self.register(fallback, fallback.actions - self.actions)

    def register(self, executor: Executor, actions: frozenset[str] | None = None) -> None:
        """Serve ``actions`` (default: every action of ``executor``); raise
        ``RegistryError`` for an unknown or human-only action, or one that
        already has an executor."""
        actions = executor.actions if actions is None else actions
        for action in sorted(actions):
            spec = self.taxonomy.actions.get(action)
            if spec is None:
                raise RegistryError(f"{type(executor).__name__}: unknown action {action!r}")
            if spec.action_class == ActionClass.human_only:
                raise RegistryError(
                    f"{type(executor).__name__}: {action} is human-only; no executor may serve it"
                )
            if action in self._by_action:
                other = type(self._by_action[action]).__name__
                raise RegistryError(
                    f"{type(executor).__name__}: {action} is already served by {other}"
                )
        for action in actions:
            self._by_action[action] = executor

    def get(self, action: str) -> Executor | None:
        return self._by_action.get(action)

    def unavailable(self, action: str) -> str | None:
        """Why ``action`` cannot run here, or None: no executor serves it, or
        its executor lacks what it needs (a remedy not configured)."""
        executor = self._by_action.get(action)
        if executor is None:
            return f"no executor serves {action} here"
        if isinstance(executor, Configured):
            return executor.unavailable(action)
        return None

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(self._by_action)


def builtin_executors(
    store: Store, taxonomy: Taxonomy, clock: Callable[[], datetime]
) -> list[Executor]:
    """The executors every responder has, whatever backends are configured:
    ``suppress_incident`` and ``unsuppress_incident``."""
    return [IncidentSuppressor(store, taxonomy, clock)]
