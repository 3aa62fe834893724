"""The differential test (architecture guide section 3): every policy file
compiles on both CEL engines, and every policy test case gets the same
decision, layer by layer, from cel-expr-python and from cel-python.

cel-expr-python is in the test extra; without it this fails (it does not
skip), naming the install step."""

from __future__ import annotations

from pathlib import Path

import pytest

from responder.policy.cel import CelPyEngine, Engine
from responder.policy.engine import DEFAULT_POLICIES_DIR, PolicyEngine, PolicySet
from responder.policy.files import compile_policy
from responder.policy.testcases import CaseResult, load_cases, run_cases
from responder.taxonomy import builtin_taxonomy

POLICY_FILES = sorted(
    path
    for path in DEFAULT_POLICIES_DIR.rglob("*.yaml")
    if "tests" not in path.relative_to(DEFAULT_POLICIES_DIR).parts
)


def cel_expr_engine() -> Engine:
    try:
        from responder.policy.cel import CelExprEngine

        return CelExprEngine()
    except ImportError as exc:
        pytest.fail(
            f"cel-expr-python is not importable ({exc}): the differential test needs "
            "both CEL engines. Install it with `pip install cel-expr-python` "
            "(it is in the test extra: pip install -e '.[test]')",
            pytrace=False,
        )


def test_cel_expr_python_is_installed() -> None:
    assert cel_expr_engine().name == "cel-expr-python"


@pytest.fixture(scope="module")
def engines() -> tuple[Engine, Engine]:
    return cel_expr_engine(), CelPyEngine()


def test_the_policy_files_are_the_shipped_layers() -> None:
    names = {str(path.relative_to(DEFAULT_POLICIES_DIR)) for path in POLICY_FILES}
    assert {
        "defaults.yaml",
        "hard_constraints.yaml",
        "environments/demo.yaml",
        "environments/staging.yaml",
        "environments/production.yaml",
    } <= names


@pytest.mark.parametrize(
    "path", POLICY_FILES, ids=[str(p.relative_to(DEFAULT_POLICIES_DIR)) for p in POLICY_FILES]
)
def test_every_policy_file_compiles_on_both_engines(
    engines: tuple[Engine, Engine], path: Path
) -> None:
    compiled = [compile_policy(path, engine) for engine in engines]
    assert compiled[0].expression == compiled[1].expression
    assert compiled[0].name == compiled[1].name


def test_both_engines_load_the_policy_set(engines: tuple[Engine, Engine]) -> None:
    for engine in engines:
        PolicySet(DEFAULT_POLICIES_DIR, engine)


def signature(result: CaseResult) -> tuple[object, ...]:
    return (
        result.got,
        result.reason,
        tuple((r.layer, r.decision, r.reason) for r in result.layers),
    )


def test_every_case_decides_the_same_on_both_engines(engines: tuple[Engine, Engine]) -> None:
    cases = load_cases(DEFAULT_POLICIES_DIR / "tests")
    fast, reference = (
        run_cases(PolicyEngine.load(builtin_taxonomy(), engine=engine), cases) for engine in engines
    )
    differences = []
    for a, b in zip(fast, reference, strict=True):
        if signature(a) != signature(b):
            lines = [f"{a.case.where}: {engines[0].name} {a.got} vs {engines[1].name} {b.got}"]
            lines += [
                f"    {x.layer.value}: {x.decision} ({x.reason}) vs {y.decision} ({y.reason})"
                for x, y in zip(a.layers, b.layers, strict=False)
                if (x.decision, x.reason) != (y.decision, y.reason)
            ]
            differences.append("\n".join(lines))
    assert not differences, "the engines disagree:\n" + "\n".join(differences)
    failing_closed = [
        f"{r.case.where} ({name}): {layer.reason}"
        for name, results in ((engines[0].name, fast), (engines[1].name, reference))
        for r in results
        for layer in r.layers
        if "failed to evaluate" in layer.reason
    ]
    assert not failing_closed, "a policy failed to evaluate:\n" + "\n".join(failing_closed)
    assert all(r.passed for r in reference), "cases failing on cel-python:\n" + "\n".join(
        r.describe() for r in reference if not r.passed
    )
