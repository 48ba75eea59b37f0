"""The Python package's structure (issue: one dispatch core, no MLIR text
across the binding, no import circle): checked on the source, so a change
that brings a circle or an MLIR string back fails here."""

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(__file__), "..", "..", "python", "kiln")


def _modules():
    return sorted(f[:-3] for f in os.listdir(PACKAGE) if f.endswith(".py"))


def _tree(module):
    with open(os.path.join(PACKAGE, module + ".py")) as f:
        return ast.parse(f.read())


def _imports(module, names):
    """The package modules `module` imports, at the top or inside functions."""
    deps = set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                deps.add(node.module.split(".")[0])
            else:
                deps.update(a.name for a in node.names)
    return {d for d in deps if d in names and d != module}


def _cycles(graph):
    """Strongly connected components with more than one module."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_planted_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    names = set(_modules())
    graph = {m: _imports(m, names) for m in names}
    assert _cycles(graph) == []


def test_the_dispatch_core_sits_below_the_op_libraries():
    names = set(_modules())
    assert _imports("core", names) <= {"_state", "config", "dtypes", "errors", "tensor"}
    assert _imports("tensor", names) <= {"_state", "config", "dtypes", "errors"}
    # Ops reach traces and tapes through core.bind only.
    for module in ("ops", "nn", "random", "variables"):
        assert not _imports(module, names) & {"tracing", "gradients"}, module


MLIR_MARKERS = ("tensor<", "array<", ": i64", ": i32", ": f64", "#kiln.", "dense<")


@pytest.mark.parametrize("module", _modules())
def test_no_mlir_text_is_built_in_python(module):
    """String constants (docstrings aside) hold no MLIR syntax: attributes
    and types cross into C++ as typed values."""
    tree = _tree(module)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef,
                             ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and \
                    isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    found = [(node.lineno, node.value) for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and id(node) not in docstrings
             and any(m in node.value for m in MLIR_MARKERS)]
    assert found == [], f"{module}.py builds MLIR text: {found}"
