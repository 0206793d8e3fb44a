"""The package's import graph, from grimp (what import-linter uses): cycles, and the layer picture.

``python scripts/import_graph.py`` prints the number of import cycles (strongly connected groups of modules,
type-checking imports included) and each one; ``--dot`` prints the graph of top-level parts as Graphviz DOT.
"""

from __future__ import annotations

import sys

PACKAGE = "airflow_results_provider"


def import_cycles(package: str = PACKAGE) -> list[list[str]]:
    """Every group of modules that import each other in a circle (Tarjan's strongly connected components)."""
    import grimp

    graph = grimp.build_graph(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:  # recursive: the package has about a hundred modules
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return groups


def part_graph(package: str = PACKAGE) -> str:
    """Graphviz DOT of which top-level part (subpackage or module) imports which."""
    import grimp

    graph = grimp.build_graph(package)

    def part(module: str) -> str:
        pieces = module.split(".")
        return pieces[1] if len(pieces) > 1 else pieces[0]

    edges = {
        (part(m), part(i))
        for m in graph.modules
        for i in graph.find_modules_directly_imported_by(m)
        if part(m) != part(i) and m != package
    }
    lines = [f'  "{a}" -> "{b}";' for a, b in sorted(edges)]
    return "digraph layers {\n  rankdir=TB;\n" + "\n".join(lines) + "\n}"


if __name__ == "__main__":
    if "--dot" in sys.argv:
        print(part_graph())
        raise SystemExit(0)
    cycles = import_cycles()
    print(f"{len(cycles)} import cycles")
    for group in cycles:
        print(f"  {len(group)} modules: {', '.join(group)}")
    raise SystemExit(1 if cycles else 0)
