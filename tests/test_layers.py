"""The layers only point down and no module imports itself back: read every import (ast).

Every module of musictag_tf, export and tfrecords_builder is mapped to a layer (LAYERS, lowest
first). Every import of another project module -- at the top, inside a function (lazy) or
under ``if TYPE_CHECKING`` -- is an edge; an edge to a higher layer, or any cycle between
modules, fails the test with the offending modules named.
"""

from __future__ import annotations

import ast
import pathlib
from typing import Dict, List, Set

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("musictag_tf", "export", "tfrecords_builder")

# (layer name, module prefixes), lowest first. A module belongs to the layer of its longest
# matching prefix; a prefix "a.b" matches "a.b" and "a.b.*", "a.b=" matches "a.b" only.
LAYERS = [
    ("core", ["musictag_tf=", "musictag_tf.params", "musictag_tf.errors", "musictag_tf.windows", "musictag_tf.emotion",
              "musictag_tf.artifacts", "musictag_tf.fileio", "musictag_tf.tables", "musictag_tf.logs", "musictag_tf.metrics",
              "musictag_tf.distribute", "musictag_tf.audio", "musictag_tf.lyrics",
              "musictag_tf.data.schema", "musictag_tf.data.manifest", "musictag_tf.mtat"]),
    ("data | builder", ["musictag_tf.data", "musictag_tf.data.pipeline", "tfrecords_builder"]),
    ("model", ["musictag_tf.model"]),
    ("run directory", ["musictag_tf.runs", "musictag_tf.predict"]),
    ("train", ["musictag_tf.train"]),
    ("evaluate", ["musictag_tf.evaluation"]),
    ("experiments", ["musictag_tf.experiments", "musictag_tf.evaluate", "musictag_tf.distill"]),
    ("export", ["export"]),
    ("tag", ["musictag_tf.tag"]),
    ("app", ["musictag_tf.cli", "musictag_tf.demo"]),
]


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> Dict[str, pathlib.Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            exact = prefix.endswith("=")
            prefix = prefix.rstrip("=")
            matches = module == prefix or (not exact and module.startswith(prefix + "."))
            if matches and len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    if best is None:
        raise AssertionError(f"module {module} is in no layer; add it to LAYERS in {__file__}")
    return best


def imports_of(module: str, path: pathlib.Path, known: Set[str]) -> Set[str]:
    """Project modules ``module`` imports anywhere in its file (top level and lazy)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found = set()

    def resolve(name: str) -> str:
        # the longest known module that ``name`` is or lies inside
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(resolve(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:  # "from pkg import submodule" imports the submodule
                full = f"{prefix}.{alias.name}"
                found.add(full if full in known else resolve(prefix))
    found.discard("")
    found.discard(module)
    return found


def import_graph() -> Dict[str, Set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def upward_imports(graph: Dict[str, Set[str]]) -> List[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                bad.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
                           f"({LAYERS[layer_of(target)][0]})")
    return bad


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


# ----------------------------------------------------------------------------- the rules

def test_every_module_is_in_a_layer():
    for module in project_modules():
        layer_of(module)  # raises with the module's name


def test_no_module_imports_a_higher_layer():
    bad = upward_imports(import_graph())
    assert not bad, "upward imports:\n  " + "\n  ".join(bad)


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n  " + "\n  ".join(" <-> ".join(c) for c in found)


# ----------------------------------------------------------------------------- the checker itself

def test_checker_sees_lazy_relative_and_from_imports(tmp_path):
    graph = import_graph()
    # lazy, inside a function: the demo builds records with the builder
    assert "tfrecords_builder.build" in graph["musictag_tf.demo"]
    # "from package import module" resolves to the module
    assert "musictag_tf.data.pipeline" in graph["musictag_tf.predict"]


def test_checker_flags_an_upward_import_and_a_cycle():
    graph = {"musictag_tf.params": {"export.saved_model"}, "export.saved_model": {"musictag_tf.params"}}
    assert upward_imports(graph) == ["musictag_tf.params (core) imports export.saved_model (export)"]
    assert cycles(graph) == [["export.saved_model", "musictag_tf.params"]]


@pytest.mark.parametrize("module, layer", [("musictag_tf.windows", "core"), ("musictag_tf.emotion", "core"), ("musictag_tf.data.pipeline", "data | builder"),
                                           ("musictag_tf.model.variants", "model"), ("export.tflite", "export"),
                                           ("musictag_tf.tag.cli", "tag"), ("musictag_tf.cli", "app")])
def test_layer_map(module, layer):
    assert LAYERS[layer_of(module)][0] == layer
