"""Operator-defined rules (spec section 10): the schema, the safety
boundaries a rule may not cross, and the built-in rules they clone.

A rule may not loosen human-only actions, make recover or disruptive actions
automatic, hold secret values or define shell commands. Saving one that tries
is refused naming the boundary; the hard constraints would clamp it anyway."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from responder.policy.cel import CelError, Engine
from responder.records.levels import Environment, Severity
from responder.records.window import SuppressionWindow
from responder.taxonomy.models import ActionClass, Taxonomy

RULE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
BUILTIN_PREFIX = "builtin."

SHELL_KEYS = frozenset({"command", "commands", "shell", "script", "exec", "cmd", "run", "args"})
_SHELL_VALUE = re.compile(
    r"(\$\(|`|\|\s*(sh|bash)\b|\b(sh|bash|zsh)\s+-c\b|\brm\s+-rf?\b|\bkubectl\s|\bcurl\s|"
    r"\bwget\s|;\s*\w+\s|&&)"
)
_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|credential|private[_-]?key)", re.IGNORECASE
)
_SECRET_TOKEN = re.compile(
    r"(-----BEGIN [A-Z ]*PRIVATE KEY-----|\bxox[abposr]-[A-Za-z0-9-]{10,}|\bAKIA[0-9A-Z]{16}\b"
    r"|\b\d{6,12}:[A-Za-z0-9_-]{30,}\b|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\."
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}\b)",
    re.IGNORECASE,
)
_SECRET_ASSIGNMENT = re.compile(
    r"(password|passwd|secret|token|api[_-]?key)\s*[:=]\s*\S+", re.IGNORECASE
)
# Operator regexes run against alert label values: keep them short and free
# of nested quantifiers, the usual source of catastrophic backtracking.
MAX_PATTERN = 256
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}]\)[+*{]")


class RuleRejected(ValueError):
    """A rule that may not be saved: ``boundary`` says which line it crosses."""

    def __init__(self, boundary: str, field: str, message: str) -> None:
        super().__init__(f"{field}: {message} ({boundary})")
        self.boundary = boundary
        self.field = field
        self.message = message

    def as_json(self) -> dict[str, str]:
        return {"error": self.message, "field": self.field, "boundary": self.boundary}


class NotificationPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: tuple[str, ...] = ()
    min_severity: Severity | None = None


class OperatorRule(BaseModel):
    """The rule schema of spec section 10."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    enabled: bool = True
    domain: str
    incident_type: str
    environment_scope: tuple[Environment, ...] = (
        Environment.demo,
        Environment.staging,
        Environment.production,
    )
    signal_selector: dict[str, str] = {}
    threshold_expression: str = "true"
    severity: Severity | None = None
    notification_policy: NotificationPolicy = Field(default_factory=NotificationPolicy)
    allowed_action_profile: dict[str, Literal["auto", "approval", "off"]] = {}
    cooldown_seconds: int | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    suppression_schedule: tuple[SuppressionWindow, ...] = ()
    owner: str
    version: int = 0
    overrides: str | None = None
    builtin: bool = False

    def applies_to(self, incident_type: str, environment: str, labels: Mapping[str, str]) -> bool:
        """Scope checks that need no CEL: enabled, type, environment, selector."""
        if not self.enabled or environment not in self.environment_scope:
            return False
        if self.incident_type not in ("*", incident_type):
            return False
        return all(
            re.fullmatch(pattern, labels.get(label, "")) is not None
            for label, pattern in self.signal_selector.items()
        )

    def suppressed_at(self, at: datetime) -> bool:
        return any(window.active(at) for window in self.suppression_schedule)


def _strings(value: Any, path: str) -> Iterable[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield f"{path}.{key}" if path else str(key), str(key)
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _keys(value: Any, path: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            yield where, str(key)
            yield from _keys(item, where)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _keys(item, f"{path}[{index}]")


def check_boundaries(raw: Mapping[str, Any]) -> None:
    """Refuse shell commands and secret values anywhere in a raw rule body."""
    for where, key in _keys(raw):
        if where == f"allowed_action_profile.{key}":
            continue  # an action id: checked against the catalogue in validate_rule
        if key.lower() in SHELL_KEYS:
            raise RuleRejected(
                "no shell commands",
                where,
                f"field {key!r} would define a command; rules cannot run commands",
            )
        if _SECRET_KEY.search(key):
            raise RuleRejected(
                "no secret values",
                where,
                f"field {key!r} looks like a secret; secrets never go into rules",
            )
    for where, text in _strings(raw, ""):
        # a CEL comparison such as labels.token == 'x' is not an assignment
        assignment = where != "threshold_expression" and _SECRET_ASSIGNMENT.search(text)
        if _SECRET_TOKEN.search(text) or assignment:
            raise RuleRejected(
                "no secret values",
                where,
                "value looks like a secret (token, key or password); secrets never go into rules",
            )
        if where != "threshold_expression" and _SHELL_VALUE.search(text):
            raise RuleRejected(
                "no shell commands",
                where,
                "value looks like a shell command; rules cannot run commands",
            )


def validate_rule(raw: Mapping[str, Any], taxonomy: Taxonomy, engine: Engine) -> OperatorRule:
    """Parse and check a rule body; raise ``RuleRejected`` naming the
    boundary and field, or ``ValueError`` for a malformed body."""
    check_boundaries(raw)
    try:
        rule = OperatorRule.model_validate(dict(raw))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or "-"
        if first["type"] == "extra_forbidden":
            raise RuleRejected("rule schema", field, f"unknown rule field {field!r}") from exc
        raise RuleRejected("rule schema", field, first["msg"]) from exc
    if not RULE_ID.match(rule.id):
        raise RuleRejected("rule schema", "id", "ids are lower-case letters, digits, . _ -")
    if rule.builtin or rule.id.startswith(BUILTIN_PREFIX):
        raise RuleRejected(
            "built-in rules are versioned in code",
            "id",
            "custom rules cannot use the builtin. prefix; clone the built-in rule",
        )
    if rule.incident_type != "*":
        known = taxonomy.incident_types.get(rule.incident_type)
        if known is None:
            raise RuleRejected(
                "rule schema", "incident_type", f"unknown incident type {rule.incident_type!r}"
            )
        if rule.domain != known.domain:
            raise RuleRejected(
                "rule schema", "domain", f"{rule.incident_type} belongs to domain {known.domain!r}"
            )
    elif rule.domain not in taxonomy.domains:
        raise RuleRejected("rule schema", "domain", f"unknown domain {rule.domain!r}")
    if not rule.environment_scope:
        raise RuleRejected("rule schema", "environment_scope", "name at least one environment")
    for label, pattern in rule.signal_selector.items():
        if len(pattern) > MAX_PATTERN or _NESTED_QUANTIFIER.search(pattern):
            raise RuleRejected(
                "rule schema",
                f"signal_selector.{label}",
                f"patterns are at most {MAX_PATTERN} characters without nested quantifiers "
                "such as (a+)+",
            )
        try:
            re.compile(pattern)
        except re.error as exc:
            raise RuleRejected(
                "rule schema", f"signal_selector.{label}", f"invalid regex: {exc}"
            ) from exc
    try:
        engine.compile(rule.threshold_expression)
    except CelError as exc:
        raise RuleRejected("valid CEL", "threshold_expression", f"CEL: {exc}") from exc
    for action_id, decision in rule.allowed_action_profile.items():
        field = f"allowed_action_profile.{action_id}"
        spec = taxonomy.actions.get(action_id)
        if spec is None:
            raise RuleRejected("rule schema", field, f"unknown action {action_id!r}")
        if spec.action_class == ActionClass.human_only:
            raise RuleRejected(
                "human-only actions stay human-only",
                field,
                f"{action_id} is human-only: only a person does it, in every "
                "environment; a rule cannot change that",
            )
        if decision == "auto" and spec.action_class == ActionClass.disruptive:
            raise RuleRejected(
                "destructive actions are never auto-allowed",
                field,
                f"{action_id} is disruptive and always needs an approval",
            )
        if decision == "auto" and spec.action_class == ActionClass.recover:
            raise RuleRejected(
                "recover actions need approval",
                field,
                f"{action_id} is a recover action and always needs an approval",
            )
    for index, window in enumerate(rule.suppression_schedule):
        if window.start == window.end:
            raise RuleRejected(
                "rule schema",
                f"suppression_schedule[{index}]",
                "start and end are equal: the window is empty",
            )
    return rule


def builtin_rules(taxonomy: Taxonomy) -> list[OperatorRule]:
    """One read-only rule per incident type, stating its built-in defaults
    in the rule schema: what the admin UI lists and operators clone."""
    rules = []
    for incident_type in taxonomy.incident_types.values():
        profile: dict[str, Literal["auto", "approval", "off"]] = {}
        for action_id in incident_type.auto_allowed:
            profile[action_id] = "auto"
        for action_id in incident_type.approval_required:
            profile[action_id] = "approval"
        rules.append(
            OperatorRule(
                id=f"{BUILTIN_PREFIX}{incident_type.id}",
                name=f"{incident_type.display_name} (built-in)",
                domain=incident_type.domain,
                incident_type=incident_type.id,
                severity=None,
                allowed_action_profile=profile,
                cooldown_seconds=incident_type.cooldowns.duplicate_suppression_seconds,
                owner="robot-sre",
                version=1,
                builtin=True,
            )
        )
    return rules
