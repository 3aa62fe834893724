"""The policy test cases of ``policies.cel/tests/``: they all pass on the
default engine, never lean on the code backstop, cover every incident type
in every environment with every action class, and the loader refuses
malformed case files naming the file and the case."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from responder.policy.decision import Decision, Layer
from responder.policy.engine import DEFAULT_POLICIES_DIR, PolicyEngine
from responder.policy.testcases import (
    Case,
    CaseFileError,
    CaseResult,
    format_results,
    load_case_file,
    load_cases,
    results_as_json,
    run_cases,
)
from responder.records.levels import Environment
from responder.taxonomy import ActionClass, builtin_taxonomy

CASES_DIR = DEFAULT_POLICIES_DIR / "tests"


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return load_cases(CASES_DIR)


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load(builtin_taxonomy())


@pytest.fixture(scope="module")
def results(engine: PolicyEngine, cases: list[Case]) -> list[CaseResult]:
    return run_cases(engine, cases)


# the shipped cases


def test_every_case_passes(results: list[CaseResult]) -> None:
    failed = [result for result in results if not result.passed]
    assert not failed, "policy cases failed:\n" + format_results(results)


def test_the_code_backstop_never_fires(results: list[CaseResult]) -> None:
    fired = [result for result in results if result.backstop is not None]
    assert not fired, "hard_constraints.yaml leaves invariants to the code:\n" + "\n".join(
        result.describe() for result in fired
    )


def test_there_are_a_few_hundred_cases(cases: list[Case]) -> None:
    # enough to state the matrix; few enough for the pure Python engine
    # in the differential test (about 8 ms per decision)
    assert 250 <= len(cases) <= 450, len(cases)


def test_one_file_per_incident_type_plus_hard_constraints_and_environments() -> None:
    files = {path.stem for path in CASES_DIR.glob("*.yaml")}
    expected = set(builtin_taxonomy().incident_types) | {"hard_constraints", "environments"}
    assert expected <= files, f"missing case files: {sorted(expected - files)}"


def test_cases_cover_every_type_in_every_environment_with_every_class(
    cases: list[Case],
) -> None:
    taxonomy = builtin_taxonomy()
    seen = {
        (case.incident_type, case.environment, taxonomy.actions[case.action].action_class)
        for case in cases
    }
    missing = [
        f"{incident_type} / {environment} / {klass}"
        for incident_type in taxonomy.incident_types
        for environment in Environment
        for klass in ActionClass
        if (incident_type, environment, klass) not in seen
    ]
    assert not missing, "no case for:\n" + "\n".join(missing)


def test_cases_cover_every_action_decision_and_unclassified_incidents(
    cases: list[Case],
) -> None:
    taxonomy = builtin_taxonomy()
    assert set(taxonomy.actions) <= {case.action for case in cases}
    assert {case.expect for case in cases} == set(Decision)
    unclassified = {
        case.environment for case in cases if case.incident_type not in taxonomy.incident_types
    }
    assert unclassified == set(Environment)


def test_every_type_file_states_its_own_type(cases: list[Case]) -> None:
    for case in cases:
        if case.file.removesuffix(".yaml") in builtin_taxonomy().incident_types:
            assert case.incident_type == case.file.removesuffix(".yaml"), case.where


def test_results_serialise(results: list[CaseResult]) -> None:
    data = results_as_json(results)
    assert data["failed"] == 0
    assert data["passed"] == len(results)
    first = data["results"][0]
    assert {"file", "index", "name", "passed", "expected", "got", "trace"} <= set(first)
    assert [layer["layer"] for layer in first["trace"]] == [layer.value for layer in Layer]


# failures are reported


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD_CASE = """\
name: sample
cases:
  - name: demo pod cleanup
    input: {incident_type: node_disk_pressure, environment: demo, confidence: high,
            action: delete_completed_pods, target: cluster/cluster}
    expect: auto
"""


def test_a_wrong_expectation_fails_with_the_trace(tmp_path: Path, engine: PolicyEngine) -> None:
    write(
        tmp_path,
        "wrong.yaml",
        GOOD_CASE.replace("expect: auto", "expect: approval\n    expect_layer: {defaults: off}"),
    )
    [result] = run_cases(engine, load_cases(tmp_path))
    assert not result.passed
    assert result.got == Decision.auto and result.expected == Decision.approval
    assert "expected approval, got auto" in result.failures
    assert any("layer defaults: expected off, got auto" in f for f in result.failures)
    report = format_results([result])
    assert "wrong.yaml: cases[0] 'demo pod cleanup'" in report
    assert "hard_constraints" in report and "0 of 1 cases passed" in report


def test_off_is_a_decision_not_a_boolean(tmp_path: Path) -> None:
    write(tmp_path, "off.yaml", GOOD_CASE.replace("expect: auto", "expect: off"))
    [case] = load_cases(tmp_path)
    assert case.expect == Decision.off


def test_a_backstop_that_fires_fails_the_case(tmp_path: Path) -> None:
    """With a hard_constraints.yaml that enforces nothing, an operator rule
    making a drain automatic is stopped only by the code backstop: the case
    still decides approval, and still fails, naming the gap."""
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICIES_DIR, policies, ignore=shutil.ignore_patterns("tests"))
    write(
        policies,
        "hard_constraints.yaml",
        "name: hard_constraints\nrule:\n  match:\n    - condition: 'false'\n"
        "      output: \"{'decision': 'approval', 'reason': 'never'}\"\n",
    )
    engine = PolicyEngine.load(builtin_taxonomy(), policies)
    write(
        tmp_path,
        "drain.yaml",
        """\
name: drain
cases:
  - name: a rule making drain automatic
    input: {incident_type: node_disk_pressure, environment: demo, confidence: high,
            action: drain_node, target: node/10.0.10.202}
    rules: [{allowed_action_profile: {drain_node: auto}}]
    expect: approval
""",
    )
    [result] = run_cases(engine, load_case_file(tmp_path / "drain.yaml"))
    assert result.got == Decision.approval
    assert result.backstop == "disruptive actions always need an approval"
    assert not result.passed
    assert result.failures == (
        "hard_constraints.yaml does not enforce: disruptive actions always need an approval",
    )
    assert "the code backstop fired for 1" in format_results([result])


# malformed files are refused, naming file, case and field


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (GOOD_CASE + "owner: me\n", "-", "unknown field(s) ['owner']"),
        (
            GOOD_CASE.replace("expect: auto", "expected: auto"),
            "cases[0] 'demo pod cleanup'",
            "unknown field(s) ['expected']",
        ),
        (
            GOOD_CASE.replace("target: cluster/cluster", "target: cluster/cluster, node: x"),
            "cases[0] 'demo pod cleanup': input",
            "unknown input field(s) ['node']",
        ),
        (
            "name: s\ndefaults: {incident: x}\ncases: []\n",
            "defaults",
            "unknown input field(s) ['incident']",
        ),
    ],
)
def test_unknown_fields_are_refused(tmp_path: Path, text: str, where: str, message: str) -> None:
    write(tmp_path, "bad_case.yaml", text)
    with pytest.raises(CaseFileError) as caught:
        load_cases(tmp_path)
    assert caught.value.file == "bad_case.yaml"
    assert caught.value.where == where
    assert message in caught.value.message
    assert str(caught.value).startswith("bad_case.yaml: ")


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("environment: demo", "environment: dev", "input.environment", "'dev' is not one of"),
        ("confidence: high", "confidence: sure", "input.confidence", "'sure' is not one of"),
        ("confidence: high,", "", "input.confidence", "required"),
        ("action: delete_completed_pods", "action: nuke", "input.action", "unknown action"),
        ("target: cluster/cluster", "target: a/b/c/d", "input.target", "KIND/NAMESPACE/NAME"),
        (
            "target: cluster/cluster",
            "target: cluster/cluster, facts: {shared: true}",
            "input.facts.shared",
            "unknown fact",
        ),
        (
            "target: cluster/cluster",
            "target: cluster/cluster, facts: {nodes_affected: 'two'}",
            "input.facts.nodes_affected",
            "expected int",
        ),
        ("expect: auto", "expect: maybe", "expect", "'maybe' is not one of"),
        (
            "expect: auto",
            "expect: auto\n    expect_layer: {policy: auto}",
            "expect_layer",
            "'policy'",
        ),
        (
            "expect: auto",
            "expect: auto\n    rules: [{allowed_action_profile: {drain_node: human_only}}]",
            "rules[0].allowed_action_profile.drain_node",
            "",
        ),
    ],
)
def test_malformed_cases_are_refused(
    tmp_path: Path, old: str, new: str, where: str, message: str
) -> None:
    assert old in GOOD_CASE
    write(tmp_path, "bad_case.yaml", GOOD_CASE.replace(old, new))
    with pytest.raises(CaseFileError) as caught:
        load_cases(tmp_path)
    assert caught.value.file == "bad_case.yaml"
    assert caught.value.where.startswith("cases[0] 'demo pod cleanup'")
    assert caught.value.where.endswith(where)
    assert message in caught.value.message


def test_duplicate_case_names_are_refused(tmp_path: Path) -> None:
    text = GOOD_CASE + GOOD_CASE.split("cases:\n", 1)[1]
    write(tmp_path, "twice.yaml", text)
    with pytest.raises(CaseFileError, match=r"twice.yaml: cases\[1\].name: duplicate"):
        load_cases(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: s\ncases: []\n", "cases: expected a non-empty list"),
        ("cases: [{}]\n", "name: expected the suite's name"),
        ("- just a list\n", "expected a mapping"),
        ("name: s\ncases: [\n", "invalid YAML"),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, "broken.yaml", text)
    with pytest.raises(CaseFileError) as caught:
        load_cases(tmp_path)
    assert caught.value.file == "broken.yaml"
    assert message in str(caught.value)


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaseFileError, match="not a directory"):
        load_cases(tmp_path / "nowhere")
