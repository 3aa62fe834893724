"""The shipped alert rules (alert_rules/): each classifies to the right
taxonomy type, every type is covered, and promtool accepts and tests them."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from fixtures.ecosystem import (
    ALERT_RULES,
    RULE_TESTS,
    alert_rules,
    load_yaml,
    promtool_alert_cases,
    rule_files,
    rule_test_files,
)
from fixtures.prometheus import promtool_binary

from responder.incidents.classify import build_classifier
from responder.taxonomy import builtin_taxonomy

RUNBOOKS = ALERT_RULES.parent / "docs" / "runbooks"
RUNBOOK_BASE = "https://robot-sre.invalid/runbooks/"
SEVERITIES = {"info", "warning", "critical"}


def test_every_alert_names_a_known_taxonomy_type_of_its_domain() -> None:
    taxonomy = builtin_taxonomy()
    problems = []
    for alert in alert_rules():
        labels = alert.labels
        incident_type = taxonomy.incident_types.get(labels.get("taxonomy_type", ""))
        if incident_type is None:
            problems.append(
                f"{alert.file}: {alert.name}: taxonomy_type {labels.get('taxonomy_type')!r}"
            )
            continue
        if labels.get("domain") != incident_type.domain:
            problems.append(
                f"{alert.file}: {alert.name}: domain {labels.get('domain')!r}, "
                f"but {incident_type.id} is in {incident_type.domain}"
            )
        if labels.get("severity") not in SEVERITIES:
            problems.append(f"{alert.file}: {alert.name}: severity {labels.get('severity')!r}")
    assert not problems, "\n".join(problems)


def test_the_responder_classifies_every_alert_to_its_labelled_type() -> None:
    taxonomy = builtin_taxonomy()
    classifier = build_classifier(taxonomy, [])
    for alert in alert_rules():
        labels = {"alertname": alert.name, **alert.labels}
        assert classifier.classify(labels).incident_type == alert.labels["taxonomy_type"], alert


def test_every_alert_has_summary_description_and_runbook() -> None:
    for alert in alert_rules():
        annotations = alert.annotations
        assert annotations.get("summary"), alert.name
        assert annotations.get("description"), alert.name
        runbook = annotations.get("runbook_url", "")
        assert runbook.startswith(RUNBOOK_BASE), f"{alert.name}: {runbook}"
        page = RUNBOOKS / runbook.removeprefix(RUNBOOK_BASE)
        assert page.is_file(), f"{alert.name}: runbook {page} is missing"
        assert alert.labels["taxonomy_type"] in page.name, alert.name


def test_alert_names_are_unique() -> None:
    names = [alert.name for alert in alert_rules()]
    assert len(names) == len(set(names))


def test_every_incident_type_has_an_alert_and_a_firing_promtool_case() -> None:
    types_of = {alert.name: alert.labels["taxonomy_type"] for alert in alert_rules()}
    tested: set[str] = set()
    for _, alertname, fires in promtool_alert_cases():
        if fires:
            tested.add(types_of[alertname])
    all_types = set(builtin_taxonomy().incident_types)
    assert all_types - set(types_of.values()) == set(), "types without an alert rule"
    assert all_types - tested == set(), "types without a firing promtool test"


def test_every_alert_has_firing_and_silent_promtool_cases() -> None:
    cases: dict[str, set[bool]] = defaultdict(set)
    for _, alertname, fires in promtool_alert_cases():
        cases[alertname].add(fires)
    missing = {
        alert.name: sorted({True, False} - cases[alert.name])
        for alert in alert_rules()
        if cases[alert.name] != {True, False}
    }
    assert not missing, f"alerts lacking a firing (True) or silent (False) case: {missing}"
    unknown = set(cases) - {alert.name for alert in alert_rules()}
    assert not unknown, f"promtool cases for alerts that do not exist: {unknown}"


def test_every_rule_file_is_covered_by_a_promtool_test_file() -> None:
    loaded = set()
    for path in rule_test_files():
        loaded |= {(RULE_TESTS / name).resolve() for name in load_yaml(path)["rule_files"]}
    assert {path.resolve() for path in rule_files()} <= loaded


def promtool(
    *args: str, timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool_binary(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def test_promtool_check_rules_accepts_every_rule_file() -> None:
    done = promtool("check", "rules", *map(str, rule_files()), timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_test_rules_passes() -> None:
    done = promtool("test", "rules", *map(str, rule_test_files()), timeout=120, cwd=RULE_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(rule_test_files()), done.stdout


FILES_WITH_ALERTS = sorted({alert.file for alert in alert_rules()})


@pytest.mark.parametrize("name", FILES_WITH_ALERTS)
def test_promtool_test_rules_fails_when_the_alerts_are_inverted(name: str, tmp_path: Path) -> None:
    """The promtool cases really constrain the rules: inverting every alert
    condition of a file (absent(expr)) makes its tests fail."""
    path = ALERT_RULES / name
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["expr"] = f"absent(({rule['expr']}))"
    (tmp_path / "alert_rules").mkdir()
    broken = tmp_path / "alert_rules" / path.name
    broken.write_text(yaml.safe_dump(doc), encoding="utf-8")
    for other in rule_files():
        if other != path:
            (tmp_path / "alert_rules" / other.name).write_text(other.read_text(), encoding="utf-8")
    (tmp_path / "alert_rules" / "tests").mkdir()
    tests = []
    for test_file in rule_test_files():
        copy = tmp_path / "alert_rules" / "tests" / test_file.name
        copy.write_text(test_file.read_text(), encoding="utf-8")
        if f"../{path.name}" in test_file.read_text():
            tests.append(str(copy))
    done = promtool("test", "rules", *tests, timeout=120, cwd=tmp_path / "alert_rules" / "tests")
    assert done.returncode != 0, f"inverted alerts of {path.name} still pass:\n{done.stdout}"
