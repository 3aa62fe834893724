"""Policy files in the CEL Policy YAML format (cel-go's ``policy`` package).

A file is one layer; its whole rule is compiled into a single CEL expression
so one evaluation decides the layer, and each part is compiled on its own
first so that a compile error names the file, the rule path and the CEL
message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from responder.policy.cel import CelError, Engine, Program

NO_OPINION = "{'decision': 'none', 'reason': ''}"
DECISIONS = frozenset({"auto", "approval", "off", "human_only", "none"})
_VARIABLE = re.compile(r"\bvariables\.([A-Za-z_][A-Za-z0-9_]*)\b")


class FileLoadError(ValueError):
    """A file that cannot be loaded: names the file, where in it, and what."""

    def __init__(self, file: str, where: str, message: str) -> None:
        super().__init__(f"{file}: {where}: {message}")
        self.file = file
        self.where = where
        self.message = message


def read_yaml(
    path: Path,
    file: str,
    error: type[FileLoadError],
    loader: type[yaml.SafeLoader] = yaml.SafeLoader,
) -> Any:
    """The YAML document at ``path``; ``error`` naming ``file`` when it
    cannot be read or parsed."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except OSError as exc:
        raise error(file, "-", f"cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise error(file, "-", f"invalid YAML: {exc}") from exc


class PolicyError(FileLoadError):
    """A policy file that cannot be loaded: names file, rule path and the CEL message."""


@dataclass(frozen=True)
class CompiledPolicy:
    name: str
    description: str
    file: str
    expression: str
    program: Program

    def evaluate(self, activation: Any) -> tuple[str, str] | None:
        """(decision, reason), or None when no entry matched.

        Raises ``CelError`` on an evaluation error or a malformed output."""
        output = self.program.evaluate(activation)
        if not isinstance(output, dict):
            raise CelError(f"{self.file}: output is not a map: {output!r}")
        decision = output.get("decision")
        if decision not in DECISIONS:
            raise CelError(
                f"{self.file}: output decision {decision!r} is not one of "
                + ", ".join(sorted(DECISIONS))
            )
        if decision == "none":
            return None
        return str(decision), str(output.get("reason", ""))


@dataclass(eq=False)
class _Compiler:
    file: str
    engine: Engine

    def check(self, expression: str, where: str) -> None:
        try:
            self.engine.compile(expression)
        except CelError as exc:
            raise PolicyError(self.file, where, f"CEL: {exc}") from exc

    def inline(self, expression: str, variables: dict[str, str], where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                raise PolicyError(self.file, where, f"unknown variable {name!r}")
            return f"({variables[name]})"

        return _VARIABLE.sub(replace, expression)

    def rule(self, rule: Any, where: str, outer: dict[str, str]) -> tuple[str, str]:
        """(expression, "does any entry match" expression) of a rule."""
        if not isinstance(rule, dict):
            raise PolicyError(self.file, where, "expected a mapping with 'match'")
        unknown = set(rule) - {"id", "description", "variables", "match"}
        if unknown:
            raise PolicyError(self.file, where, f"unknown field(s) {sorted(unknown)}")
        variables = dict(outer)
        for index, variable in enumerate(rule.get("variables") or []):
            vwhere = f"{where}.variables[{index}]"
            if not isinstance(variable, dict) or set(variable) != {"name", "expression"}:
                raise PolicyError(self.file, vwhere, "expected 'name' and 'expression'")
            expression = self.inline(str(variable["expression"]), variables, vwhere)
            self.check(expression, f"{vwhere} ({variable['name']})")
            variables[str(variable["name"])] = expression
        matches = rule.get("match")
        if not isinstance(matches, list) or not matches:
            raise PolicyError(self.file, f"{where}.match", "expected a non-empty list")
        chain, any_match = NO_OPINION, "false"
        for index in reversed(range(len(matches))):
            entry = matches[index]
            mwhere = f"{where}.match[{index}]"
            if not isinstance(entry, dict):
                raise PolicyError(self.file, mwhere, "expected a mapping")
            unknown = set(entry) - {"condition", "output", "rule", "explanation"}
            if unknown:
                raise PolicyError(self.file, mwhere, f"unknown field(s) {sorted(unknown)}")
            if ("output" in entry) == ("rule" in entry):
                raise PolicyError(self.file, mwhere, "give exactly one of 'output' or 'rule'")
            condition = self.inline(str(entry.get("condition", "true")), variables, mwhere)
            self.check(condition, f"{mwhere}.condition")
            if "output" in entry:
                output = self.inline(str(entry["output"]), variables, mwhere)
                self.check(output, f"{mwhere}.output")
                chain = f"({condition}) ? ({output}) : ({chain})"
                any_match = f"({condition}) || ({any_match})"
            else:
                nested, nested_any = self.rule(entry["rule"], f"{mwhere}.rule", variables)
                guard = f"({condition}) && ({nested_any})"
                chain = f"({guard}) ? ({nested}) : ({chain})"
                any_match = f"({guard}) || ({any_match})"
        return chain, any_match


def compile_policy(path: Path, engine: Engine, label: str | None = None) -> CompiledPolicy:
    """Load one policy file and compile it for ``engine``."""
    file = label or str(path)
    document = read_yaml(path, file, PolicyError)
    if not isinstance(document, dict):
        raise PolicyError(file, "-", "expected a mapping with 'name' and 'rule'")
    unknown = set(document) - {"name", "description", "imports", "rule"}
    if unknown:
        raise PolicyError(file, "-", f"unknown field(s) {sorted(unknown)}")
    if not isinstance(document.get("name"), str):
        raise PolicyError(file, "name", "expected a policy name")
    compiler = _Compiler(file, engine)
    expression, _ = compiler.rule(document.get("rule"), "rule", {})
    try:
        program = engine.compile(expression)
    except CelError as exc:
        raise PolicyError(file, "rule", f"CEL: {exc}") from exc
    return CompiledPolicy(
        name=document["name"],
        description=str(document.get("description", "")),
        file=file,
        expression=expression,
        program=program,
    )
