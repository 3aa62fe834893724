"""How long one policy decision takes, per CEL engine.

For each installed engine (``responder.policy.cel.available_engines()``) it
times ``PolicyEngine.decide`` — one full decision through all five layers
(taxonomy, defaults, environment overlay, operator rules, hard constraints)
for one action — over many iterations (20 000 with cel-expr-python, 300
with the pure Python cel-python by default) for a few representative
(incident type, environment, action, target) combinations, with two operator
rules installed (one matching the incident, one not) so that the operator
layer evaluates a threshold. It also times one severity-rule evaluation.

Each engine is timed twice: as the pipeline decides (a decision is kept by
what the layers read of the input, so a repeat costs the look-up: the input
built, the key computed) and with every layer evaluated every time (what a
decision costs the first time its inputs are seen). It prints a table (median
and p99 in µs, decisions/s) and PASS/FAIL for the target: a median decision
as the pipeline decides under 20 µs with cel-expr-python.

``python -m bench.policy_bench [--fast-iterations N] [--slow-iterations N]``;
``run()`` returns the printed lines (``bench.run`` may include them).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from responder.policy.allowlist import Allowlist
from responder.policy.cel import Engine, available_engines
from responder.policy.engine import DEFAULT_POLICIES_DIR, IncidentView, PolicyEngine, PolicySet
from responder.policy.rules import OperatorRule, validate_rule
from responder.policy.severity import SeverityRules
from responder.records.levels import Environment
from responder.records.target import Target
from responder.taxonomy import builtin_taxonomy
from responder.taxonomy.facts import FACT_DEFAULTS
from responder.taxonomy.models import Taxonomy

FAST_ENGINE = "cel-expr-python"
TARGET_MEDIAN_US = 20.0
FAST_ITERATIONS = 20_000
SLOW_ITERATIONS = 300


@dataclass(frozen=True)
class Case:
    incident_type: str
    environment: Environment
    action: str
    target: str | None
    confidence: str = "high"

    @property
    def label(self) -> str:
        return f"{self.incident_type}/{self.environment}: {self.action} on {self.target or '-'}"


CASES = (
    Case("node_disk_pressure", Environment.demo, "suspend_cronjob", "cronjob/x/trivy-db-warmup"),
    Case("node_disk_pressure", Environment.production, "reboot_worker", "node/10.0.10.201"),
    Case(
        "runtime_dependency_outage", Environment.staging, "rollout_restart", "deployment/data/redis"
    ),
    Case(
        "database_connectivity_degraded",
        Environment.production,
        "delete_pvc",
        "persistentvolumeclaim/data/pg",
    ),
    Case(
        "background_job_buildup",
        Environment.demo,
        "delete_completed_pods",
        "cluster/cluster",
        confidence="medium",
    ),
    Case("unclassified", Environment.demo, "notify_operator", None),
)

RULES = (
    {
        "id": "bench-disk",
        "name": "disk pressure on many nodes: ask before suspending",
        "domain": "infrastructure",
        "incident_type": "node_disk_pressure",
        "threshold_expression": "incident.facts.nodes_affected >= 0 && incident.age_seconds >= 0",
        "allowed_action_profile": {"scale_to_zero": "approval"},
        "cooldown_seconds": 600,
        "owner": "bench",
    },
    {
        "id": "bench-registry",
        "name": "registry pull failures in production",
        "domain": "release_configuration",
        "incident_type": "registry_pull_failure",
        "environment_scope": ["production"],
        "allowed_action_profile": {"patch_image_ref": "off"},
        "owner": "bench",
    },
)


@dataclass(frozen=True)
class Timing:
    median_us: float
    p99_us: float
    per_second: float


def measure(call: Callable[[], object], iterations: int) -> Timing:
    for _ in range(min(200, iterations)):
        call()
    samples: list[int] = []
    clock = time.perf_counter_ns
    started = clock()
    for _ in range(iterations):
        before = clock()
        call()
        samples.append(clock() - before)
    elapsed = clock() - started
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return Timing(
        median_us=statistics.median(samples) / 1000,
        p99_us=p99 / 1000,
        per_second=iterations / (elapsed / 1e9),
    )


def _view(taxonomy: Taxonomy, case: Case) -> IncidentView:
    known = taxonomy.incident_types.get(case.incident_type)
    return IncidentView(
        incident_type=case.incident_type,
        environment=case.environment,
        severity="warning",
        confidence=case.confidence,
        domain=known.domain if known else "",
        labels={"alertname": "KubeNodePressure", "node": "10.0.10.201"},
        scope={"kind": "node", "namespace": "", "name": "10.0.10.201"},
        signals={"KubeNodePressure": {"strength": "strong", "count": 2}},
        facts={**FACT_DEFAULTS, "nodes_affected": 1},
        age_seconds=240,
    )


def _policy(taxonomy: Taxonomy, engine: Engine, keep: bool) -> PolicyEngine:
    rules: tuple[OperatorRule, ...] = tuple(validate_rule(r, taxonomy, engine) for r in RULES)
    return PolicyEngine(
        taxonomy, PolicySet(DEFAULT_POLICIES_DIR, engine), Allowlist(), lambda: rules, keep=keep
    )


def run(
    fast_iterations: int = FAST_ITERATIONS,
    slow_iterations: int = SLOW_ITERATIONS,
) -> list[str]:
    """Measure and return the report's lines."""
    taxonomy = builtin_taxonomy()
    engines = available_engines()
    lines = [
        "Policy decision benchmark: PolicyEngine.decide, all five layers, one action,"
        f" {len(RULES)} operator rules installed",
        "",
    ]
    width = max(len(case.label) for case in CASES)
    header = f"{'engine':<16} {'case':<{width}} {'decision':<11} {'iter':>6} "
    header += f"{'median µs':>10} {'p99 µs':>9} {'decisions/s':>12}"
    lines += [header, "-" * len(header)]
    medians: dict[str, list[float]] = {}
    severity: dict[str, Timing] = {}
    for engine in engines:
        for keep in (True, False):
            iterations = fast_iterations if engine.name == FAST_ENGINE else slow_iterations
            policy = _policy(taxonomy, engine, keep)
            name = engine.name if keep else f"{engine.name} (every layer evaluated)"
            for case in CASES:
                view = _view(taxonomy, case)
                target = Target.parse(case.target) if case.target else None
                decision = policy.decide(view, case.action, target).decision

                timing = measure(partial(policy.decide, view, case.action, target), iterations)
                medians.setdefault(name, []).append(timing.median_us)
                lines.append(
                    f"{name[:16]:<16} {case.label:<{width}} {decision.value:<11} {iterations:>6}"
                    f" {timing.median_us:>10.1f} {timing.p99_us:>9.1f}"
                    f" {timing.per_second:>12,.0f}"
                )
        rules = SeverityRules(taxonomy, engine)
        severity_input = _view(taxonomy, CASES[0]).as_input("", True)
        severity[engine.name] = measure(
            partial(rules.evaluate, "node_disk_pressure", severity_input), iterations
        )

    lines += ["", "Severity rules (node_disk_pressure, two rules, the second matches):"]
    for name, timing in severity.items():
        lines.append(
            f"  {name:<16} median {timing.median_us:8.1f} µs   p99 {timing.p99_us:8.1f} µs"
            f"   {timing.per_second:>10,.0f} evaluations/s"
        )

    lines.append("")
    for name, values in medians.items():
        lines.append(
            f"{name}: median of the case medians {statistics.median(values):.1f} µs,"
            f" worst case median {max(values):.1f} µs"
        )
    fast = medians.get(FAST_ENGINE)
    if fast is None:
        lines.append(
            f"FAIL  median decision under {TARGET_MEDIAN_US:.0f} µs with {FAST_ENGINE}:"
            f" {FAST_ENGINE} is not installed (pip install '.[fast]')"
        )
    else:
        verdict = "PASS" if max(fast) < TARGET_MEDIAN_US else "FAIL"
        lines.append(
            f"{verdict}  median decision under {TARGET_MEDIAN_US:.0f} µs with {FAST_ENGINE}:"
            f" worst case median {max(fast):.1f} µs"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.policy_bench", description=__doc__)
    parser.add_argument("--fast-iterations", type=int, default=FAST_ITERATIONS)
    parser.add_argument("--slow-iterations", type=int, default=SLOW_ITERATIONS)
    args = parser.parse_args(argv)
    for line in run(args.fast_iterations, args.slow_iterations):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
