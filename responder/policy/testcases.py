"""Policy test cases: YAML files of input → expected decision, one suite a file.

They are the reviewable statement of what the shipped policy must decide;
``robot-sre policy test`` and the test suite both run them. A case also fails
when the engine's code backstop had to step in: the files should have held the
invariant themselves."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from responder.policy.decision import Decision, Layer, LayerResult, PolicyDecision
from responder.policy.engine import IncidentView, PolicyEngine
from responder.policy.files import FileLoadError, read_yaml
from responder.policy.matrix import target_text
from responder.policy.rules import OperatorRule
from responder.records.levels import Confidence, Environment, Severity
from responder.records.target import Target
from responder.taxonomy.facts import FACT_DEFAULTS
from responder.taxonomy.loader import builtin_taxonomy
from responder.taxonomy.models import Taxonomy

BACKSTOP_MARK = "built-in invariant"

_FILE_FIELDS = frozenset({"name", "description", "defaults", "cases"})
_CASE_FIELDS = frozenset(
    {"name", "description", "input", "rules", "expect", "expect_layer", "expect_reason"}
)
_INPUT_FIELDS = frozenset(
    {
        "incident_type",
        "environment",
        "confidence",
        "severity",
        "action",
        "target",
        "labels",
        "facts",
    }
)
_REQUIRED_INPUT = ("incident_type", "environment", "confidence", "action")


class _CaseLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false are booleans, so ``expect: off``
    means the decision "off", not False (YAML 1.1 reads on/off/yes/no as
    booleans)."""


_CaseLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CaseLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


class CaseFileError(FileLoadError):
    """A case file that cannot be loaded: names the file, where, and what."""


@dataclass(frozen=True, kw_only=True)
class Case:
    """One loaded case: an (incident, action, target) and what it must decide."""

    file: str
    suite: str
    index: int
    name: str
    description: str = ""
    incident_type: str
    environment: Environment
    confidence: Confidence
    severity: Severity = Severity.warning
    action: str
    target: Target | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    facts: Mapping[str, bool | int] = field(default_factory=dict)
    rules: tuple[OperatorRule, ...] = ()
    expect: Decision
    expect_layers: Mapping[Layer, Decision | None] = field(default_factory=dict)
    expect_reason: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}: cases[{self.index}] {self.name!r}"

    def incident(self) -> IncidentView:
        return IncidentView(
            incident_type=self.incident_type,
            environment=self.environment,
            severity=self.severity,
            confidence=self.confidence,
            labels=dict(self.labels),
            facts={**FACT_DEFAULTS, **self.facts},
        )


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    """What one case decided, and why it passed or failed."""

    case: Case
    got: Decision | None
    reason: str
    layers: tuple[LayerResult, ...] = ()
    failures: tuple[str, ...] = ()
    backstop: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def expected(self) -> Decision:
        return self.case.expect

    @property
    def trace(self) -> list[dict[str, str | None]]:
        return [
            {
                "layer": r.layer.value,
                "decision": r.decision.value if r.decision else None,
                "reason": r.reason,
            }
            for r in self.layers
        ]

    def describe(self) -> str:
        """A few lines for a failure report: the case, what went wrong, the trace."""
        case = self.case
        target = "no target" if case.target is None else target_text(case.target)
        lines = [
            f"{case.where}: {case.incident_type} / {case.environment} / "
            f"{case.confidence} / {case.action} on {target}",
            *(f"  - {failure}" for failure in self.failures),
        ]
        lines += [
            f"    {r.layer.value:<17}{(r.decision.value if r.decision else '-'):<11}{r.reason}"
            for r in self.layers
        ]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        case = self.case
        return {
            "file": case.file,
            "index": case.index,
            "name": case.name,
            "passed": self.passed,
            "expected": case.expect.value,
            "got": self.got.value if self.got else None,
            "reason": self.reason,
            "failures": list(self.failures),
            "backstop": self.backstop,
            "trace": self.trace,
        }


# loading


def load_cases(directory: Path | str, taxonomy: Taxonomy | None = None) -> list[Case]:
    """Every case of every ``*.yaml`` file in ``directory``, in file-name order.

    Action ids are checked against ``taxonomy`` (the built-in one by default).
    Raises ``CaseFileError`` naming the file, the case and the field."""
    path = Path(directory)
    if not path.is_dir():
        raise CaseFileError(str(path), "-", "not a directory of case files")
    cases: list[Case] = []
    for file in sorted(path.glob("*.yaml")):
        cases.extend(load_case_file(file, taxonomy))
    return cases


def load_case_file(path: Path | str, taxonomy: Taxonomy | None = None) -> list[Case]:
    """The cases of one file; see the module docstring for the format."""
    path = Path(path)
    taxonomy = taxonomy or builtin_taxonomy()
    file = path.name
    document = _mapping(
        file,
        "-",
        read_yaml(path, file, CaseFileError, _CaseLoader),
        "expected a mapping with 'name' and 'cases'",
    )
    _no_unknown(file, "-", document, _FILE_FIELDS, "field")
    suite = document.get("name")
    if not isinstance(suite, str) or not suite:
        raise CaseFileError(file, "name", "expected the suite's name")
    defaults = _mapping(
        file, "defaults", document.get("defaults") or {}, "expected a mapping of input fields"
    )
    _no_unknown(file, "defaults", defaults, _INPUT_FIELDS, "input field")
    entries = document.get("cases")
    if not isinstance(entries, list) or not entries:
        raise CaseFileError(file, "cases", "expected a non-empty list")
    cases: list[Case] = []
    names: set[str] = set()
    for index, entry in enumerate(entries):
        case = _case(file, suite, index, entry, defaults, taxonomy)
        if case.name in names:
            raise CaseFileError(file, f"cases[{index}].name", f"duplicate case name {case.name!r}")
        names.add(case.name)
        cases.append(case)
    return cases


def _no_unknown(
    file: str, where: str, mapping: Mapping[Any, Any], known: Iterable[str], what: str
) -> None:
    unknown = sorted(str(key) for key in mapping if key not in known)
    if unknown:
        raise CaseFileError(
            file, where, f"unknown {what}(s) {unknown}; expected some of {sorted(known)}"
        )


def _mapping(
    file: str, where: str, value: Any, expected: str = "expected a mapping"
) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise CaseFileError(file, where, expected)
    return value


def _choice(file: str, where: str, value: Any, kind: type[Any]) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise CaseFileError(file, where, f"{value!r} is not one of {allowed}") from None


def _case(
    file: str,
    suite: str,
    index: int,
    entry: Any,
    defaults: Mapping[str, Any],
    taxonomy: Taxonomy,
) -> Case:
    at = f"cases[{index}]"
    entry = _mapping(file, at, entry, "expected a mapping with 'name', 'input' and 'expect'")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CaseFileError(file, f"{at}.name", "expected the case's name")
    at = f"{at} {name!r}"
    _no_unknown(file, at, entry, _CASE_FIELDS, "field")
    raw_input = _mapping(file, f"{at}: input", entry.get("input"))
    _no_unknown(file, f"{at}: input", raw_input, _INPUT_FIELDS, "input field")
    data = {**defaults, **raw_input}
    for required in _REQUIRED_INPUT:
        if data.get(required) in (None, ""):
            raise CaseFileError(file, f"{at}: input.{required}", "required")

    incident_type = str(data["incident_type"])
    action = str(data["action"])
    if action not in taxonomy.actions:
        raise CaseFileError(file, f"{at}: input.action", f"unknown action {action!r}")
    target: Target | None = None
    if data.get("target") is not None:
        try:
            target = Target.parse(str(data["target"]))
        except ValueError as exc:
            raise CaseFileError(file, f"{at}: input.target", str(exc)) from None

    labels = data.get("labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise CaseFileError(file, f"{at}: input.labels", "expected a mapping of string to string")
    facts = _mapping(file, f"{at}: input.facts", data.get("facts") or {})
    for fact, value in facts.items():
        if fact not in FACT_DEFAULTS:
            raise CaseFileError(
                file,
                f"{at}: input.facts.{fact}",
                f"unknown fact; known facts: {', '.join(sorted(FACT_DEFAULTS))}",
            )
        if type(value) is not type(FACT_DEFAULTS[fact]):
            raise CaseFileError(
                file,
                f"{at}: input.facts.{fact}",
                f"expected {type(FACT_DEFAULTS[fact]).__name__}, got {value!r}",
            )

    if "expect" not in entry:
        raise CaseFileError(file, f"{at}: expect", "required")
    expect = _choice(file, f"{at}: expect", entry["expect"], Decision)
    expect_layers: dict[Layer, Decision | None] = {}
    raw_layers = _mapping(
        file,
        f"{at}: expect_layer",
        entry.get("expect_layer") or {},
        "expected a mapping of layer to decision",
    )
    for layer_name, decision in raw_layers.items():
        layer = _choice(file, f"{at}: expect_layer", layer_name, Layer)
        expect_layers[layer] = (
            None
            if decision is None
            else _choice(file, f"{at}: expect_layer.{layer_name}", decision, Decision)
        )
    expect_reason = entry.get("expect_reason")
    if expect_reason is not None and not isinstance(expect_reason, str):
        raise CaseFileError(file, f"{at}: expect_reason", "expected a string")

    return Case(
        file=file,
        suite=suite,
        index=index,
        name=name,
        description=str(entry.get("description") or ""),
        incident_type=incident_type,
        environment=_choice(file, f"{at}: input.environment", data["environment"], Environment),
        confidence=_choice(file, f"{at}: input.confidence", data["confidence"], Confidence),
        severity=_choice(file, f"{at}: input.severity", data.get("severity", "warning"), Severity),
        action=action,
        target=target,
        labels=dict(labels),
        facts=dict(facts),
        rules=_rules(file, at, entry.get("rules"), incident_type, taxonomy),
        expect=expect,
        expect_layers=expect_layers,
        expect_reason=expect_reason,
    )


def _rules(
    file: str, at: str, raw: Any, incident_type: str, taxonomy: Taxonomy
) -> tuple[OperatorRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CaseFileError(file, f"{at}: rules", "expected a list of operator rules")
    known = taxonomy.incident_types.get(incident_type)
    rules = []
    for number, body in enumerate(raw):
        where = f"{at}: rules[{number}]"
        body = _mapping(file, where, body, "expected a mapping (the operator rule schema)")
        rule_id = f"case-rule-{number}"
        merged = {
            "id": rule_id,
            "name": rule_id,
            "owner": "policy-tests",
            "domain": known.domain if known else "-",
            "incident_type": incident_type,
            **body,
        }
        try:
            rules.append(OperatorRule.model_validate(merged))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            loc = ".".join(str(part) for part in first["loc"]) or "-"
            raise CaseFileError(file, f"{where}.{loc}", first["msg"]) from None
    return tuple(rules)


# running


def run_cases(engine: PolicyEngine, cases: Iterable[Case]) -> list[CaseResult]:
    """Decide every case with ``engine`` and compare with its expectations.

    Pure: the engine is not changed (a case with operator rules runs on a
    copy of the engine sharing its compiled policies)."""
    return [run_case(engine, case) for case in cases]


def run_case(engine: PolicyEngine, case: Case) -> CaseResult:
    deciding = engine
    if case.rules:
        rules = case.rules
        deciding = PolicyEngine(engine.taxonomy, engine.policies, engine.allowlist, lambda: rules)
    try:
        decision = deciding.decide(case.incident(), case.action, case.target)
    except Exception as exc:  # a broken case or engine fails the case, never the run
        return CaseResult(
            case=case,
            got=None,
            reason=f"{type(exc).__name__}: {exc}",
            failures=(f"the engine raised {type(exc).__name__}: {exc}",),
        )
    return _judge(case, decision)


def _judge(case: Case, decision: PolicyDecision) -> CaseResult:
    failures: list[str] = []
    if decision.decision != case.expect:
        failures.append(f"expected {case.expect.value}, got {decision.decision.value}")
    by_layer = {result.layer: result for result in decision.layers}
    for layer, wanted in case.expect_layers.items():
        result = by_layer.get(layer)
        got = result.decision if result else None
        if got != wanted:
            failures.append(
                f"layer {layer.value}: expected {wanted.value if wanted else 'no opinion'}, "
                f"got {got.value if got else 'no opinion'}"
                + (f" ({result.reason})" if result else "")
            )
    if case.expect_reason is not None and case.expect_reason not in decision.reason:
        failures.append(
            f"expected the reason to contain {case.expect_reason!r}, got {decision.reason!r}"
        )
    backstop = _backstop(decision)
    if backstop is not None:
        failures.append(f"hard_constraints.yaml does not enforce: {backstop}")
    return CaseResult(
        case=case,
        got=decision.decision,
        reason=decision.reason,
        layers=decision.layers,
        failures=tuple(failures),
        backstop=backstop,
    )


def _backstop(decision: PolicyDecision) -> str | None:
    """The invariant the engine's code backstop enforced, if it fired."""
    for result in decision.layers:
        if result.layer == Layer.hard_constraints and BACKSTOP_MARK in result.reason:
            return result.reason.split(f"{BACKSTOP_MARK}:", 1)[-1].strip()
    return None


# reporting


def format_results(results: Sequence[CaseResult], verbose: bool = False) -> str:
    """A report: every failed case with its trace (every case when verbose),
    then one summary line."""
    failed = [result for result in results if not result.passed]
    lines: list[str] = []
    for result in results:
        if not result.passed:
            lines += ["FAIL " + result.describe(), ""]
        elif verbose:
            lines.append(f"ok   {result.case.where}: {result.got.value if result.got else '-'}")
    files = len({result.case.file for result in results})
    backstops = sum(1 for result in results if result.backstop is not None)
    summary = f"{len(results) - len(failed)} of {len(results)} cases passed ({files} files)"
    if failed:
        summary += f", {len(failed)} failed"
    if backstops:
        summary += f"; the code backstop fired for {backstops}"
    lines.append(summary)
    return "\n".join(lines)


def results_as_json(results: Sequence[CaseResult]) -> dict[str, Any]:
    return {
        "passed": sum(1 for result in results if result.passed),
        "failed": sum(1 for result in results if not result.passed),
        "backstop_fired": sum(1 for result in results if result.backstop is not None),
        "results": [result.as_json() for result in results],
    }
