"""Restricted evaluation of every BPMN expression and script (conditions, timers, parameters, scripts).

SpiffWorkflow's default environment runs plain ``exec``/``eval`` with task data as globals, which is
not a sandbox (see design/SPIFFWORKFLOW.md section 7). Every surface goes through RestrictedPython's
compiler here: ``__import__``, dunder attributes, ``open`` and the subclass walk are refused when the
bundle is deployed, and again (defence in depth) when the code runs.
"""

from __future__ import annotations

import ast
import datetime as _dt
import decimal
import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .errors import ScriptRejected

_BUILTINS: dict[str, Any] = {k: v for k, v in safe_builtins.items() if k not in {"__build_class__", "id"}}
_BUILTINS.update(
    sum=sum, min=min, max=max, any=any, all=all, sorted=sorted, enumerate=enumerate, zip=zip,
    dict=dict, list=list, set=set, tuple=tuple, reversed=reversed, map=map, filter=filter,
)

#: Functions every expression may call. Other modules add theirs with `register_helper`.
HELPERS: dict[str, Callable[..., Any]] = {
    "Decimal": decimal.Decimal,
    "date": _dt.date,
    "datetime": _dt.datetime,
    "timedelta": _dt.timedelta,
    "json_dumps": json.dumps,
}


def register_helper(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Make `func` callable by name from every expression and script."""
    HELPERS[name] = func
    return func


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    """Support `x += y` and friends in restricted scripts."""
    ops = {"+=": lambda: x + y, "-=": lambda: x - y, "*=": lambda: x * y, "/=": lambda: x / y,
           "//=": lambda: x // y, "%=": lambda: x % y, "|=": lambda: x | y, "&=": lambda: x & y}
    if op not in ops:
        raise ScriptRejected(f"The operator {op} is not allowed in scripts.")
    return ops[op]()


#: The guard names every evaluation sees; built once, copied into each evaluation's globals.
_GUARDS: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "__name__": "bpmn_script",
    "_getattr_": safer_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
}


#: Builtins that reach outside the sandbox. None is available at run time either; naming them is refused
#: at compile time so that a deploy fails with a clear reason instead of a NameError years later.
FORBIDDEN_NAMES = frozenset({
    "open", "getattr", "setattr", "delattr", "vars", "globals", "locals", "dir", "eval", "exec", "compile",
    "breakpoint", "memoryview", "super",
})


def _refuse_forbidden_names(source: str, mode: str, kind: str) -> None:
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError:
        return  # the restricted compiler reports syntax errors with their line
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            used.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in ("format", "format_map"):
            used.add(f".{node.attr}() (use an f-string)")  # '{0.__class__}'.format(x) reads attributes
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
            used.add(f"the string {node.value[:40]!r} (double underscores name Python internals)")
    if used:
        raise ScriptRejected(f"The {kind} {source!r} is not allowed: it uses {', '.join(sorted(used))}, "
                             "which scripts may not use (files, attributes and namespaces stay outside).",
                             source=source)


def _raise_if_errors(result, source: str, kind: str):
    if result.errors or result.code is None:
        reasons = "; ".join(result.errors) or "it does not compile"
        raise ScriptRejected(f"The {kind} {source!r} is not allowed: {reasons}.", source=source)
    return result.code


@lru_cache(maxsize=4096)
def compile_expression(source: str):
    """Compile one expression under the restricted compiler (cached by source text)."""
    _refuse_forbidden_names(source.strip(), "eval", "expression")
    return _raise_if_errors(compile_restricted_eval(source.strip(), "<expression>"), source, "expression")


@lru_cache(maxsize=1024)
def compile_script(source: str):
    """Compile one script under the restricted compiler (cached by source text)."""
    _refuse_forbidden_names(source, "exec", "script")
    return _raise_if_errors(compile_restricted_exec(source, "<script>"), source, "script")


def _is_reserved(key: str, value: Any) -> bool:
    return key.startswith("_") or callable(value) or key in HELPERS


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """A task-data environment that runs only restricted-compiled code."""

    def __init__(self):
        super().__init__({})

    def _globals(self, context: dict, external_context: dict | None) -> dict:
        env = dict(HELPERS)
        if external_context:
            env.update(external_context)
        env.update(context)
        # Guards last: task data (form fields, message payloads) must never replace them or __builtins__.
        env.update(_GUARDS)
        return env

    def evaluate(self, expression, context, external_context=None):
        """Evaluate an expression against task data."""
        return eval(compile_expression(expression), self._globals(context, external_context))  # noqa: S307

    def execute(self, script, context, external_context=None):
        """Run a script; the names it assigns become task data."""
        env = self._globals(context, external_context)
        before = set(env)
        exec(compile_script(script), env)  # noqa: S102
        for key, value in env.items():
            if key in context or key not in before:
                if not _is_reserved(key, value):
                    context[key] = value
        for key in [k for k in context if k not in env]:
            del context[key]
        return True

    def call_service(self, context, **kwargs):
        raise NotImplementedError("Service tasks are dispatched by ServiceDispatcher, not the environment.")


class RestrictedScriptEngine(PythonScriptEngine):
    """Spiff's script engine bound to the restricted environment and our service dispatcher."""

    def __init__(self, service_caller: Callable[..., str] | None = None):
        super().__init__(environment=RestrictedEnvironment())
        self._service_caller = service_caller

    def validate(self, expression):
        """Refuse what the restricted compiler refuses; bad syntax stays a SyntaxError.

        Spiff's DMN engine calls validate() on a rule cell such as `> 5` and expects SyntaxError before
        it retries the cell as a comparison; any other exception would break every such decision table.
        """
        ast.parse(expression.strip(), mode="eval")
        compile_expression(expression)

    def call_service(self, task, **kwargs):
        """Dispatch to the handler registry; errors propagate unchanged (3.2.0 hides them)."""
        if self._service_caller is None:
            raise RuntimeError("No service dispatcher is attached to this script engine.")
        return self._service_caller(task, **kwargs)


def check_expression(source: str) -> str | None:
    """Return why `source` is refused as an expression, or None when it compiles."""
    try:
        compile_expression(source)
    except ScriptRejected as err:
        return err.message
    return None


def check_script(source: str) -> str | None:
    """Return why `source` is refused as a script, or None when it compiles."""
    try:
        compile_script(source)
    except ScriptRejected as err:
        return err.message
    return None
