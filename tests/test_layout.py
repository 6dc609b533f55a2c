"""The package's shape, checked: no import circles (imports inside functions count; TYPE_CHECKING ones do not
run, so they do not), no module over 400 lines, lower layers never import the public API module, and
`gankit parts` lists every registered part."""

import ast
from pathlib import Path

import pytest

import gankit
from gankit.catalog import axes
from gankit.cli import main

SRC = Path(gankit.__file__).parent


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST, here: str) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gankit"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gankit") and node.level == 0:
            for alias in node.names:  # `from gankit.x import y`: y may be a module itself
                found.add(f"{node.module}.{alias.name}")
                found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found - {here}


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        edges = _runtime_imports(ast.parse(path.read_text()), name)
        # a package's __init__ runs on import of any of its modules; only modules that exist are nodes
        graph[name] = {e for e in edges if e in modules and e != name and not name.startswith(e + ".")}
    return graph


def test_no_import_circles():
    graph, state, stack, circles = _graph(), {}, [], []

    def walk(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_no_module_over_400_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_lower_layers_never_import_the_public_api():
    users = [m for m, edges in _graph().items() if "gankit.api" in edges and m not in ("gankit", "gankit.cli")]
    assert not users, users


@pytest.mark.parametrize("axis", [a.name for a in axes()])
def test_gankit_parts_lists_every_registered_part_with_its_settings(axis, capsys):
    assert main(["parts", axis]) == 0
    out = capsys.readouterr().out
    registry = next(a.registry for a in axes() if a.name == axis)
    if registry is None:
        from gankit.metrics.registry import list_metrics

        names = [m.name for m in list_metrics()]
    else:
        names = registry.names()
    assert names and all(f"  {name} " in out for name in names)
    assert out.startswith(axis)


def test_gankit_parts_names_the_three_proofs_and_refuses_an_unknown_axis(capsys):
    assert main(["parts"]) == 0
    out = capsys.readouterr().out
    assert "relativistic" in out and "r1" in out and "diffaugment" in out and "weight=10.0, every=1" in out
    assert main(["parts", "objectiv"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'objective'" in err and len(err.strip().splitlines()) == 1
