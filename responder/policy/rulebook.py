"""Operator rules in the store: versioned, audited, validated on every save.

Built-in rules come from the taxonomy and are read-only; operators clone one
into an override. The engine reads a cached list, refreshed every
``refresh_seconds`` (replicas converge quickly) and at once after a local
change."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from responder.policy.cel import Engine
from responder.policy.rules import (
    BUILTIN_PREFIX,
    OperatorRule,
    RuleRejected,
    builtin_rules,
    validate_rule,
)
from responder.records.audit import audit
from responder.store import Store, VersionConflict
from responder.taxonomy.models import Taxonomy

COLLECTION = "rules"


class RuleNotFound(KeyError):
    pass


class RuleConflict(RuntimeError):
    pass


class RuleBook:
    def __init__(
        self, store: Store, taxonomy: Taxonomy, engine: Engine, refresh_seconds: float = 2.0
    ) -> None:
        self.store = store
        self.taxonomy = taxonomy
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self.builtin = {rule.id: rule for rule in builtin_rules(taxonomy)}
        self._cache: list[OperatorRule] = []
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    # reading

    def active(self) -> list[OperatorRule]:
        """Custom rules for the policy engine (built-in rules are layers 1-2)."""
        now = time.monotonic()
        if now - self._loaded_at >= self.refresh_seconds:
            with self._lock:
                if now - self._loaded_at >= self.refresh_seconds:
                    self._cache = self.custom()
                    self._loaded_at = now
        return self._cache

    def custom(self) -> list[OperatorRule]:
        return [
            OperatorRule.model_validate({**doc, "version": version})
            for version, doc in self.store.list_documents(COLLECTION)
        ]

    def all(self) -> list[OperatorRule]:
        return [*self.builtin.values(), *self.custom()]

    def get(self, rule_id: str) -> OperatorRule:
        if rule_id in self.builtin:
            return self.builtin[rule_id]
        found = self.store.get_document(COLLECTION, rule_id)
        if found is None:
            raise RuleNotFound(rule_id)
        version, doc = found
        return OperatorRule.model_validate({**doc, "version": version})

    def history(self, rule_id: str) -> list[OperatorRule]:
        if rule_id in self.builtin:
            return [self.builtin[rule_id]]
        versions = self.store.document_history(COLLECTION, rule_id)
        if not versions:
            raise RuleNotFound(rule_id)
        return [OperatorRule.model_validate({**doc, "version": v}) for v, doc in versions]

    def validate(self, body: Mapping[str, Any]) -> OperatorRule:
        """Check a rule body without saving it (previews, drafts)."""
        return validate_rule(body, self.taxonomy, self.engine)

    # writing

    def create(self, body: Mapping[str, Any], actor: str, surface: str) -> OperatorRule:
        body = dict(body)
        body.setdefault("id", f"rule-{uuid.uuid4().hex[:10]}")
        body.pop("version", None)
        rule = self.validate(body)
        return self._put(rule, None, actor, surface, "rule.create", expected=0)

    def _refuse_builtin(self, rule_id: str, why: str) -> None:
        if rule_id in self.builtin:
            raise RuleRejected("built-in rules are versioned in code", "id", f"{rule_id} {why}")

    def update(
        self,
        rule_id: str,
        body: Mapping[str, Any],
        actor: str,
        surface: str,
        expected_version: int | None = None,
    ) -> OperatorRule:
        self._refuse_builtin(rule_id, "is built in; clone it into a custom override to change it")
        before = self.get(rule_id)
        body = {**dict(body), "id": rule_id}
        body.pop("version", None)
        rule = self.validate(body)
        expected = before.version if expected_version is None else expected_version
        return self._put(rule, before, actor, surface, "rule.update", expected=expected)

    def clone(
        self, rule_id: str, actor: str, surface: str, new_id: str | None = None
    ) -> OperatorRule:
        source = self.get(rule_id)
        body = source.model_dump(mode="json", exclude={"version", "builtin"})
        body["id"] = new_id or f"{rule_id.removeprefix(BUILTIN_PREFIX)}-{uuid.uuid4().hex[:6]}"
        body["name"] = f"{source.name.removesuffix(' (built-in)')} (custom)"
        body["overrides"] = rule_id
        body["owner"] = actor
        rule = self.validate(body)
        return self._put(rule, None, actor, surface, "rule.clone", expected=0)

    def delete(self, rule_id: str, actor: str, surface: str) -> None:
        self._refuse_builtin(
            rule_id, "is built in and cannot be deleted; disable a custom override instead"
        )
        before = self.get(rule_id)
        if not self.store.delete_document(COLLECTION, rule_id):
            raise RuleNotFound(rule_id)
        self._loaded_at = float("-inf")
        audit(
            self.store,
            actor=actor,
            surface=surface,
            action="rule.delete",
            subject=f"rule:{rule_id}",
            before=before.model_dump(mode="json"),
        )

    def _put(
        self,
        rule: OperatorRule,
        before: OperatorRule | None,
        actor: str,
        surface: str,
        action: str,
        expected: int,
    ) -> OperatorRule:
        doc = rule.model_dump(mode="json", exclude={"version"})
        try:
            version = self.store.put_document(COLLECTION, rule.id, doc, expected_version=expected)
        except VersionConflict as exc:
            if expected == 0:
                raise RuleConflict(f"rule {rule.id!r} already exists") from exc
            raise RuleConflict(
                f"rule {rule.id!r} changed since version {expected}; reload and retry"
            ) from exc
        saved = rule.model_copy(update={"version": version})
        self._loaded_at = float("-inf")
        audit(
            self.store,
            actor=actor,
            surface=surface,
            action=action,
            subject=f"rule:{rule.id}",
            before=before.model_dump(mode="json") if before else None,
            after=saved.model_dump(mode="json"),
        )
        return saved
