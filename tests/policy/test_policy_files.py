"""Loading policy files: the CEL Policy YAML format, one expression per file,
and errors that name the file, the rule path and the CEL message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from responder.policy.cel import CelExprEngine, CelPyEngine, Engine
from responder.policy.engine import DEFAULT_POLICIES_DIR, IncidentView, PolicyEngine, PolicySet
from responder.policy.files import CompiledPolicy, PolicyError, compile_policy
from responder.records.levels import Environment
from responder.taxonomy import builtin_taxonomy

ENGINES = [CelExprEngine, CelPyEngine]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def compiled(tmp_path: Path, engine: Engine, rule: str) -> CompiledPolicy:
    """The policy ``t`` whose rule is ``rule`` (YAML indented under ``rule:``)."""
    return compile_policy(write(tmp_path, "name: t\nrule:\n" + rule), engine)


@pytest.fixture(params=ENGINES, ids=lambda e: e.name)
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.param()  # type: ignore[no-any-return]


def test_first_match_wins_and_no_match_means_no_opinion(tmp_path: Path, engine: Engine) -> None:
    policy = compiled(
        tmp_path,
        engine,
        """\
  match:
    - condition: action.id == 'a'
      output: "{'decision': 'auto', 'reason': 'first'}"
    - condition: action.id == 'a' || action.id == 'b'
      output: "{'decision': 'approval', 'reason': 'second'}"
""",
    )
    for action, expected in (("a", ("auto", "first")), ("b", ("approval", "second")), ("c", None)):
        assert policy.evaluate(engine.activation({"action": {"id": action}})) == expected


def test_nested_rule_without_match_falls_through(tmp_path: Path, engine: Engine) -> None:
    policy = compiled(
        tmp_path,
        engine,
        """\
  variables:
    - name: big
      expression: incident.n > 10
    - name: huge
      expression: variables.big && incident.n > 100
  match:
    - condition: variables.big
      rule:
        match:
          - condition: variables.huge
            output: "{'decision': 'human_only', 'reason': 'huge'}"
    - output: "{'decision': 'approval', 'reason': 'fallback ' + string(incident.n)}"
""",
    )

    def run(n: int) -> tuple[str, str] | None:
        return policy.evaluate(engine.activation({"incident": {"n": n}}))

    assert run(1000) == ("human_only", "huge")
    assert run(50) == ("approval", "fallback 50")
    assert run(1) == ("approval", "fallback 1")


def test_cel_compile_error_names_file_rule_path_and_cel_message(
    tmp_path: Path, engine: Engine
) -> None:
    path = write(
        tmp_path,
        """
name: t
rule:
  match:
    - condition: action.id == 'a'
      output: "{'decision': 'auto', 'reason': 'ok'}"
    - condition: action.id == = 'b'
      output: "{'decision': 'auto', 'reason': 'broken'}"
""",
    )
    with pytest.raises(PolicyError) as caught:
        compile_policy(path, engine, label="policies.cel/defaults.yaml")
    assert caught.value.file == "policies.cel/defaults.yaml"
    assert caught.value.where == "rule.match[1].condition"
    assert "CEL:" in caught.value.message and len(caught.value.message) > len("CEL: ")


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("rule: {match: []}", "name", "policy name"),
        ("name: t\nrule: {match: []}", "rule.match", "non-empty list"),
        ("name: t\nrule: {match: [{condition: 'true'}]}", "rule.match[0]", "exactly one"),
        ("name: t\nrule: {match: [{output: '1', colour: red}]}", "rule.match[0]", "unknown field"),
        ("name: t\nfoo: 1\nrule: {match: []}", "-", "unknown field"),
        (
            "name: t\nrule: {match: [{condition: 'variables.nope', output: '1'}]}",
            "rule.match[0]",
            "unknown variable 'nope'",
        ),
        ("name: t\nrule: [", "-", "invalid YAML"),
    ],
)
def test_malformed_policy_file_is_rejected_with_location(
    tmp_path: Path, text: str, where: str, fragment: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_policy(write(tmp_path, text), CelExprEngine())
    assert caught.value.where == where
    assert fragment in caught.value.message


def test_output_with_unknown_decision_fails_closed_to_approval(tmp_path: Path) -> None:
    policies = tmp_path / "policies.cel"
    shutil.copytree(DEFAULT_POLICIES_DIR, policies)
    (policies / "environments" / "demo.yaml").write_text(
        "name: broken\nrule:\n  match:\n    - output: \"{'decision': 'yolo', 'reason': 'x'}\"\n"
    )
    engine = PolicyEngine(builtin_taxonomy(), PolicySet(policies, CelExprEngine()))
    view = IncidentView(
        incident_type="node_disk_pressure",
        environment=Environment.demo,
        severity="warning",
        confidence="high",
    )
    decision = engine.decide(view, "notify_operator")
    environment_layer = decision.layers[2]
    assert environment_layer.layer == "environment"
    assert environment_layer.decision == "approval"
    assert "failing closed" in environment_layer.reason


def test_shipped_policies_compile_on_both_engines(engine: Engine) -> None:
    policies = PolicySet(DEFAULT_POLICIES_DIR, engine)
    assert policies.defaults.name == "defaults"
    assert set(policies.environments) == {"demo", "staging", "production"}
    assert policies.hard_constraints.name == "hard_constraints"
