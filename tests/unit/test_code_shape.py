"""The package's shape, checked on its source (AST): size limits, docstrings on public names, no import cycles.

Every rule is one test; a failing test lists every offender as ``path:line name (N lines)``, so one run shows
all of them. Lengths: a function counts from its ``def`` line to the end of its body (decorators excluded,
nested functions included, and counted on their own too); a class from its ``class`` line; a module is its
number of lines.

Docstrings are required on public modules (a file whose own name does not start with ``_``, and every
``__init__.py``), on public classes (module level, or nested in a public class) and on public functions and
methods (module level, or in a public class; dunders, ``@<name>.setter``/``@<name>.deleter`` and ``@overload``
are exempt, and so are functions nested in functions). Private modules (``_name.py``) are checked for length only.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "airflow_results_provider"
IMPORT_GRAPH_SCRIPT = ROOT / "scripts" / "import_graph.py"

MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 300
MAX_MODULE_LINES = 400

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
DefinitionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


@dataclass(frozen=True)
class Offender:
    """One definition that breaks a rule, as the failure message shows it."""

    path: str
    line: int
    name: str
    lines: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.name} ({self.lines} lines)"


@dataclass(frozen=True)
class SourceModule:
    """One parsed module of the package."""

    path: Path
    tree: ast.Module
    line_count: int

    @property
    def relative(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def is_private(self) -> bool:
        return self.path.name.startswith("_") and self.path.name != "__init__.py"


@cache
def package_modules() -> tuple[SourceModule, ...]:
    """Every ``.py`` file under the package directory, parsed."""
    modules = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        modules.append(SourceModule(path, tree, len(source.splitlines())))
    return tuple(modules)


def node_length(node: ast.AST) -> int:
    """Lines from the ``def``/``class`` line (decorators excluded) to the end of the body."""
    return node.end_lineno - node.lineno + 1


def scope_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of one scope, looking through ``if``/``try``/``with``/loop blocks (same scope in Python)."""
    for statement in body:
        yield statement
        if isinstance(statement, ast.If | ast.For | ast.AsyncFor | ast.While):
            yield from scope_statements(statement.body)
            yield from scope_statements(statement.orelse)
        elif isinstance(statement, ast.With | ast.AsyncWith):
            yield from scope_statements(statement.body)
        elif isinstance(statement, ast.Try | getattr(ast, "TryStar", ast.Try)):
            yield from scope_statements(statement.body)
            for handler in statement.handlers:
                yield from scope_statements(handler.body)
            yield from scope_statements(statement.orelse)
            yield from scope_statements(statement.finalbody)


def definitions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, DefinitionNode]]:
    """Every function and class under ``node``, however deeply nested, with its dotted qualified name."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, DefinitionNode):
            name = f"{prefix}{child.name}"
            yield name, child
            yield from definitions(child, f"{name}.")
        else:
            yield from definitions(child, prefix)


def is_public(name: str) -> bool:
    return not name.startswith("_")


def decorator_name(decorator: ast.expr) -> str:
    """``overload``, ``typing.overload``, ``value.setter``, ... (call arguments dropped)."""
    if isinstance(decorator, ast.Call):
        decorator = decorator.func
    return ast.unparse(decorator)


def is_docstring_exempt(function: FunctionNode) -> bool:
    """Property setters/deleters and ``@overload`` stubs carry no docstring of their own."""
    for decorator in function.decorator_list:
        name = decorator_name(decorator)
        if name.endswith((".setter", ".deleter")) or name in ("overload", "typing.overload"):
            return True
    return False


def public_definitions(body: list[ast.stmt], prefix: str = "") -> Iterator[tuple[str, DefinitionNode]]:
    """Public classes (module level or in a public class) and public functions/methods (likewise)."""
    for statement in scope_statements(body):
        if not isinstance(statement, DefinitionNode) or not is_public(statement.name):
            continue
        name = f"{prefix}{statement.name}"
        if isinstance(statement, ast.ClassDef):
            yield name, statement
            yield from public_definitions(statement.body, f"{name}.")
        elif not is_docstring_exempt(statement):
            yield name, statement  # functions nested in it are exempt: not descended into


def length_offenders(kind: type | tuple[type, ...], limit: int) -> list[Offender]:
    offenders = []
    for module in package_modules():
        for name, node in definitions(module.tree):
            if isinstance(node, kind) and node_length(node) > limit:
                offenders.append(Offender(module.relative, node.lineno, name, node_length(node)))
    return offenders


def fail_with(offenders: list[Offender], rule: str) -> None:
    """Fail listing every offender (no assertion rewriting: the list is the message)."""
    if offenders:
        listing = "\n".join(f"  {offender}" for offender in offenders)
        pytest.fail(f"{len(offenders)} {rule}:\n{listing}", pytrace=False)


def test_no_function_longer_than_limit():
    offenders = length_offenders((ast.FunctionDef, ast.AsyncFunctionDef), MAX_FUNCTION_LINES)
    fail_with(offenders, f"functions longer than {MAX_FUNCTION_LINES} lines")


def test_no_class_longer_than_limit():
    offenders = length_offenders(ast.ClassDef, MAX_CLASS_LINES)
    fail_with(offenders, f"classes longer than {MAX_CLASS_LINES} lines")


def test_no_module_longer_than_limit():
    offenders = [
        Offender(module.relative, 1, "<module>", module.line_count)
        for module in package_modules()
        if module.line_count > MAX_MODULE_LINES
    ]
    fail_with(offenders, f"modules longer than {MAX_MODULE_LINES} lines")


def test_public_names_have_docstrings():
    offenders = []
    for module in package_modules():
        if module.is_private:
            continue
        if ast.get_docstring(module.tree) is None:
            offenders.append(Offender(module.relative, 1, "<module>", module.line_count))
        for name, node in public_definitions(module.tree.body):
            if ast.get_docstring(node) is None and not inherits_docstring(module, name):
                offenders.append(Offender(module.relative, node.lineno, name, node_length(node)))
    fail_with(offenders, "public modules, classes and functions without a docstring")


def inherits_docstring(module: SourceModule, name: str) -> bool:
    """A method overriding a documented method of a base class shows that docstring (``help``, the API docs)."""
    if "." not in name:
        return False
    dotted = ".".join(module.path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    obj: object = importlib.import_module(dotted)
    for part in name.split("."):
        obj = getattr(obj, part, None)
    return obj is not None and bool(inspect.getdoc(obj))


def load_import_graph_script():
    spec = importlib.util.spec_from_file_location("_import_graph_script", IMPORT_GRAPH_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles():
    pytest.importorskip("grimp", reason="grimp (the import graph) is a dev tool of the main virtualenv")
    cycles = load_import_graph_script().import_cycles()
    if cycles:
        listing = "\n".join(f"  {len(group)} modules: {', '.join(group)}" for group in cycles)
        pytest.fail(f"{len(cycles)} import cycles:\n{listing}", pytrace=False)
