"""Two CEL engines behind one small interface.

``cel-expr-python`` (the CEL project's C++ runtime) when installed,
``cel-python`` (pure Python) as the portable reference. Policies keep to
standard CEL so both give the same answers; a differential test holds them to
it."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Protocol

VARIABLES = ("incident", "action", "history", "environment", "now")


class CelError(ValueError):
    """A compile or evaluation error, with the CEL message."""


class Program(Protocol):
    def evaluate(self, activation: Any) -> Any:
        """Evaluate against an activation from ``Engine.activation``;
        raise ``CelError`` on an evaluation error."""


class Engine(Protocol):
    name: str

    def compile(self, expression: str) -> Program:
        """Parse and type-check; raise ``CelError`` with the CEL message."""

    def activation(self, data: Mapping[str, Any]) -> Any:
        """Prepare input data once for several evaluations."""


class _CelExprProgram:
    def __init__(self, expression: Any) -> None:
        self._expression = expression

    def evaluate(self, activation: Any) -> Any:
        from cel_expr_python import cel

        value = self._expression.eval(activation)
        if value.type() == cel.Type.ERROR:
            raise CelError(str(value.plain_value()))
        return value.plain_value()


class CelExprEngine:
    """``cel-expr-python``: about 50x faster than the pure Python engine."""

    name = "cel-expr-python"

    def __init__(self) -> None:
        from cel_expr_python import cel

        self._env = cel.NewEnv(variables={name: cel.Type.DYN for name in VARIABLES})

    def compile(self, expression: str) -> Program:
        try:
            return _CelExprProgram(self._env.compile(expression))
        except RuntimeError as exc:
            raise CelError(str(exc).removeprefix("INVALID_ARGUMENT: ")) from exc

    def activation(self, data: Mapping[str, Any]) -> Any:
        return self._env.Activation(dict(data))


def _to_python(value: Any) -> Any:
    import celpy

    if isinstance(value, celpy.celtypes.BoolType):
        return bool(value)
    if isinstance(value, celpy.celtypes.IntType | celpy.celtypes.UintType):
        return int(value)
    if isinstance(value, celpy.celtypes.DoubleType):
        return float(value)
    if isinstance(value, celpy.celtypes.StringType):
        return str(value)
    if isinstance(value, celpy.celtypes.MapType):
        return {_to_python(k): _to_python(v) for k, v in value.items()}
    if isinstance(value, celpy.celtypes.ListType):
        return [_to_python(v) for v in value]
    return value


class _CelPyProgram:
    def __init__(self, runner: Any) -> None:
        self._runner = runner

    def evaluate(self, activation: Any) -> Any:
        from celpy.evaluation import CELEvalError

        try:
            result = self._runner.evaluate(activation)
        except CELEvalError as exc:
            raise CelError(str(exc.args[0] if exc.args else exc)) from exc
        if isinstance(result, CELEvalError):
            raise CelError(str(result.args[0] if result.args else result))
        return _to_python(result)


class CelPyEngine:
    """``cel-python``: pure Python, the portable reference."""

    name = "cel-python"

    def __init__(self) -> None:
        import celpy

        self._env = celpy.Environment()

    def compile(self, expression: str) -> Program:
        from celpy.celparser import CELParseError

        try:
            ast = self._env.compile(expression)
        except CELParseError as exc:
            raise CelError(str(exc)) from exc
        return _CelPyProgram(self._env.program(ast))

    def activation(self, data: Mapping[str, Any]) -> Any:
        from celpy.adapter import json_to_cel

        return {name: json_to_cel(value) for name, value in data.items()}


def available_engines() -> list[Engine]:
    """Every engine importable here, the fastest first."""
    engines: list[Engine] = []
    with contextlib.suppress(ImportError):
        engines.append(CelExprEngine())
    engines.append(CelPyEngine())
    return engines


def default_engine() -> Engine:
    return available_engines()[0]


def engine_named(name: str) -> Engine:
    for engine in available_engines():
        if engine.name == name:
            return engine
    raise CelError(f"CEL engine {name!r} is not installed")
