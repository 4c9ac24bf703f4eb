"""Which way the imports point (DESIGN.md, "The parts, and which way the arrows go").

Read from the source with ``ast``, so an import inside a function counts as much as one at
the top of a module: a lazy import that points the wrong way is still a wrong-way arrow.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLIENT = ROOT / "client" / "gentf"
SERVER = ROOT / "server" / "gentf_server"

CLIENT_LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "v1": set(),
    "wire": {"errors", "v1"},
    "graph": {"errors", "v1", "wire"},
    "gfi": {"errors"},
    "dsl": {"errors", "gfi", "wire"},
    "inference": {"errors", "gfi", "dsl"},
    "remote": {"errors", "v1", "wire", "graph", "gfi"},
    "tf": {"errors", "v1", "wire", "graph", "remote"},
    "interop": {"errors", "v1", "wire", "graph", "remote"},
}
"""Each client layer and the gentf layers it may import (the package's ``__init__`` and
``__main__`` put them together and may import any)."""

MODELING_WIRE_MODULES = {"gentf.wire._array_address"}
"""What the modeling layers may use of ``gentf.wire``: numpy buffer addresses, no RPC."""

THIRD_PARTY: dict[str, set[str]] = {
    "grpc": {"v1", "wire", "remote"},
    "tensorflow": set(),  # the client never imports it (interop: inside a function only)
    "scipy": set(),  # the light client: numpy and autograd only
}


def _imports(path: pathlib.Path) -> list[tuple[str, int, bool]]:
    """(absolute module name, line, inside a function or class) of every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                  ast.ClassDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, nested) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, child.lineno, nested))
            visit(child, inner)

    visit(tree, False)
    return found


def _layer(path: pathlib.Path, top: pathlib.Path) -> str:
    rel = path.relative_to(top)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _modules(top: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in top.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_import_reader_sees_lazy_and_top_level_imports(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import a.b\nfrom c import d\n\ndef f():\n    from e.f import g\n")
    assert _imports(source) == [("a.b", 1, False), ("c", 2, False), ("e.f", 5, True)]


def test_every_client_layer_is_in_the_table() -> None:
    layers = {_layer(p, CLIENT) for p in _modules(CLIENT)} - {"__init__", "__main__"}
    assert layers == set(CLIENT_LAYERS)


@pytest.mark.parametrize("layer", sorted(CLIENT_LAYERS))
def test_client_layer_imports_only_the_layers_below_it(layer: str) -> None:
    wrong = []
    for path in _modules(CLIENT):
        if _layer(path, CLIENT) != layer:
            continue
        for module, line, nested in _imports(path):
            top, _, rest = module.partition(".")
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if top == "gentf" and rest:
                target = rest.split(".")[0]
                if target == layer:
                    continue
                if target not in CLIENT_LAYERS[layer]:
                    wrong.append(where)
                elif layer in ("gfi", "dsl", "inference") and target == "wire" \
                        and module not in MODELING_WIRE_MODULES:
                    wrong.append(where + " (the modeling layers know no RPC)")
            elif top in THIRD_PARTY and layer not in THIRD_PARTY[top]:
                if top == "tensorflow" and layer == "interop" and nested:
                    continue  # optional interop with a local TensorFlow, lazily
                wrong.append(where)
    assert wrong == []


def test_server_core_knows_tensorflow_not_grpc_and_nothing_above_it() -> None:
    wrong = [f"{p.relative_to(ROOT)}:{line} imports {m}"
             for p in _modules(SERVER / "core") for m, line, _ in _imports(p)
             if m.split(".")[0] == "grpc"
             or m.startswith(("gentf_server.service", "gentf_server.supervisor",
                              "gentf_server.main"))]
    assert wrong == []


def test_service_knows_grpc_not_tensorflow_and_supervisor_loads_core_only_in_a_session() -> None:
    wrong = []
    for part in ("service", "supervisor"):
        for path in _modules(SERVER / part):
            for module, line, nested in _imports(path):
                tensorflow = module.split(".")[0] == "tensorflow"
                core = module.startswith("gentf_server.core") and (part == "service" or not nested)
                if tensorflow or core:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert wrong == []
