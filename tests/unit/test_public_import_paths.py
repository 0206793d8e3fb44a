"""Every import path the docs and the example DAGs show still resolves.

The statements are collected at test time from README.md, every text file under docs/ and every file in
example_dags/, so a new page or DAG is covered without touching this test:

* ``from airflow_results_provider... import a, b`` and ``import airflow_results_provider...`` (Python files
  are parsed with ``ast``; Markdown code blocks and prose are scanned, parenthesised imports included);
* dotted paths such as ``airflow_results_provider.xcom.ResultXComBackend`` (ini/cfg/env/yaml values,
  mkdocstrings ``:::`` directives, references in prose) and the ``module:attr`` form of ``default_result``.

Each distinct statement is one test: ``from X import a`` imports ``X`` and gets ``a`` (or imports ``X.a``, as
Python does); a dotted path imports its longest importable module prefix and gets the rest; ``module:attr``
imports ``module`` and gets ``attr``. The imports run in this process: only what the statement itself needs
is imported.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "airflow_results_provider"
SOURCES = (ROOT / "README.md", ROOT / "docs", ROOT / "example_dags")
BINARY_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".pdf", ".woff", ".woff2"}
MIN_STATEMENTS = 10
#: Dotted names the docs spell that are not import paths: the entry point group third-party stores register in
#: (airflow_results_provider.results.registry.ENTRY_POINT_GROUP, checked below to be that group's name).
NOT_IMPORT_PATHS = {"airflow_results_provider.stores"}

_NAME = r"[A-Za-z_]\w*"
_MODULE = rf"{PACKAGE}(?:\.{_NAME})*"
_ALIASED = rf"{_NAME}(?:[ \t]+as[ \t]+{_NAME})?"
FROM_IMPORT = re.compile(
    rf"\bfrom[ \t]+(?P<module>{_MODULE})[ \t]+import[ \t]+"
    rf"(?:\((?P<parenthesised>[^)]*)\)|(?P<names>\*|{_ALIASED}(?:[ \t]*,[ \t]*{_ALIASED})*))"
)
PLAIN_IMPORT = re.compile(rf"(?<![\w.])import[ \t]+(?P<modules>{_MODULE}(?:[ \t]+as[ \t]+{_NAME})?)")
# a dotted path (at least one dot) or module:attr; not part of a file path (``pkg/x.py``) or a longer name
DOTTED = re.compile(
    rf"(?<![\w./])(?P<path>{PACKAGE}(?:\.{_NAME})+(?::{_NAME}(?:\.{_NAME})*)?|{PACKAGE}:{_NAME})"
)
DOTTED_WHOLE = re.compile(rf"{DOTTED.pattern}$")


@dataclass(frozen=True)
class Statement:
    """One import path to check: ``from``-import (``names`` set), plain ``import``, or dotted path."""

    kind: str  # "from" | "import" | "dotted"
    target: str
    names: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.kind == "from":
            return f"from {self.target} import {', '.join(self.names)}"
        if self.kind == "import":
            return f"import {self.target}"
        return self.target


def source_files() -> Iterator[Path]:
    for source in SOURCES:
        if source.is_file():
            yield source
        elif source.is_dir():
            for path in sorted(source.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix not in BINARY_SUFFIXES:
                    yield path


def imported_names(text: str) -> tuple[str, ...]:
    """``a, b as c,`` -> ``("a", "b")``: the names looked up in the module (aliases dropped)."""
    text = re.sub(r"#[^\n]*", "", text).replace("\\", " ")
    return tuple(part.split()[0] for part in text.split(",") if part.strip())


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def statements_in_python(text: str, filename: str) -> Iterator[tuple[int, Statement]]:
    tree = ast.parse(text, filename=filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == PACKAGE or node.module.startswith(f"{PACKAGE}."):
                yield node.lineno, Statement("from", node.module, tuple(alias.name for alias in node.names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(f"{PACKAGE}."):
                    yield node.lineno, Statement("import", alias.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value.strip()
            if DOTTED_WHOLE.match(value):
                yield node.lineno, Statement("dotted", value)


def statements_in_text(text: str) -> Iterator[tuple[int, Statement]]:
    """Imports and dotted paths in Markdown (code blocks and prose) or any other text file."""
    taken: list[tuple[int, int]] = []  # spans of import statements: their module paths are not dotted paths
    for match in FROM_IMPORT.finditer(text):
        names = match.group("parenthesised") or match.group("names")
        statement = Statement("from", match.group("module"), imported_names(names))
        taken.append(match.span())
        yield line_of(text, match.start()), statement
    for match in PLAIN_IMPORT.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        taken.append(match.span())
        yield line_of(text, match.start()), Statement("import", match.group("modules").split()[0])
    for match in DOTTED.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        yield line_of(text, match.start()), Statement("dotted", match.group("path").rstrip("."))


def collect_statements() -> dict[Statement, list[str]]:
    """Each distinct statement, with the ``file:line`` places it appears."""
    found: dict[Statement, list[str]] = {}
    for path in source_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        relative = path.relative_to(ROOT).as_posix()
        is_python = path.suffix == ".py"
        located = statements_in_python(text, relative) if is_python else statements_in_text(text)
        for line, statement in located:
            if statement.target not in NOT_IMPORT_PATHS:
                found.setdefault(statement, []).append(f"{relative}:{line}")
    return found


def import_longest_prefix(parts: list[str]) -> tuple[object, list[str]]:
    """Import the longest importable module among ``parts``' prefixes; return it and the remaining names."""
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        try:
            return importlib.import_module(candidate), parts[end:]
        except ModuleNotFoundError as error:
            missing = error.name or ""
            # only "this candidate is not a module" moves on; a module failing to import its own imports fails
            if not (candidate == missing or candidate.startswith(f"{missing}.")) or end == 1:
                raise
    raise AssertionError(f"no importable prefix in {'.'.join(parts)}")


def resolve_attributes(obj: object, owner: str, names: list[str]) -> object:
    for name in names:
        try:
            obj = getattr(obj, name)
        except AttributeError as error:
            raise AttributeError(f"{owner} has no attribute {name!r}") from error
        owner = f"{owner}.{name}"
    return obj


def check(statement: Statement) -> None:
    if statement.kind == "import":
        importlib.import_module(statement.target)
    elif statement.kind == "from":
        module = importlib.import_module(statement.target)
        for name in statement.names:
            if name == "*" or hasattr(module, name):
                continue
            try:  # ``from package import submodule`` imports the submodule
                importlib.import_module(f"{statement.target}.{name}")
            except ModuleNotFoundError as error:
                raise ImportError(f"cannot import name {name!r} from {statement.target!r}") from error
    elif ":" in statement.target:
        module_name, _, attributes = statement.target.partition(":")
        module = importlib.import_module(module_name)
        resolve_attributes(module, module_name, attributes.split("."))
    else:
        module, rest = import_longest_prefix(statement.target.split("."))
        resolve_attributes(module, module.__name__, rest)


STATEMENTS = collect_statements()


def test_statements_were_collected():
    assert len(STATEMENTS) >= MIN_STATEMENTS, (
        f"only {len(STATEMENTS)} import statements found in README.md, docs/ and example_dags/: "
        f"{[str(s) for s in STATEMENTS]}"
    )


@pytest.mark.parametrize("statement", list(STATEMENTS), ids=str)
def test_import_path_resolves(statement: Statement):
    places = ", ".join(STATEMENTS[statement])
    try:
        check(statement)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"{statement} (in {places}): {type(error).__name__}: {error}")


def test_names_that_are_not_import_paths_are_what_they_say():
    from airflow_results_provider.results.registry import ENTRY_POINT_GROUP

    assert {ENTRY_POINT_GROUP} == NOT_IMPORT_PATHS
