"""The package's layering, read from the source with ``ast`` (nothing is imported).

* No import cycles between keras_se3 modules: neither among the imports that run
  when a module is imported, nor once the imports deferred into function bodies
  are counted too (a deferred import only hides a cycle, it does not remove it).
* ``keras_se3.so3`` is pure group maths: it imports nothing else from keras_se3,
  not even inside a function.
* No private name (``_name``) of ``keras_se3.so3`` is imported by another module.

The graph has one node per module (a package is its ``__init__``).  ``import a.b``
and ``from a.b import c`` give an edge to ``a.b``, and to ``a.b.c`` too when that
is a module; the implicit import of parent packages (``a`` for ``a.b``) is not an
edge, or every module would sit on a cycle through ``keras_se3/__init__.py``.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "keras_se3"
SO3 = f"{PACKAGE}.so3"

# Deferred imports that are allowed to break the rules above: the deprecated
# aliases `keras_se3.so3.rotate_grid` / `resample_grid`, which `so3.__getattr__`
# imports from their new home on first use.  Remove with the aliases.
DEPRECATED_ALIAS_EDGES = {(SO3, f"{PACKAGE}.transforms")}


def _source_files():
    """``{module name: path}`` of every module installed as part of keras_se3.

    That is ``keras_se3/**/*.py`` plus the TFDS builder folders ``datasets/<name>/``
    that setup.py installs (and ``keras_se3.datasets`` finds) as
    ``keras_se3.datasets.<name>``.
    """
    files = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for init in sorted((ROOT / "datasets").glob("*/__init__.py")):
        for path in sorted(init.parent.rglob("*.py")):
            parts = path.relative_to(init.parent).with_suffix("").parts
            parts = (PACKAGE, "datasets", init.parent.name) + parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


class _Imports(ast.NodeVisitor):
    """Collects ``(target, line, deferred, names)`` for each import of a module."""

    def __init__(self, module, is_package):
        self.package = module if is_package else module.rpartition(".")[0]
        self.found = []
        self._depth = 0  # > 0 inside a function body

    def _function(self, node):
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node):
        for alias in node.names:
            self.found.append((alias.name, node.lineno, self._depth > 0, ()))

    def visit_ImportFrom(self, node):
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module
        names = tuple(alias.name for alias in node.names)
        self.found.append((target, node.lineno, self._depth > 0, names))


def _graph(files):
    """``{module: [(target, line, deferred, imported names)]}``, keras_se3 only."""
    graph = {}
    for module, path in files.items():
        visitor = _Imports(module, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        edges = []
        for target, line, deferred, names in visitor.found:
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            if target not in files:
                raise AssertionError(
                    f"{path}:{line} imports {target}, which is not a module of "
                    f"{PACKAGE}; fix the import (or this test's module discovery)."
                )
            edges.append((target, line, deferred, names))
            for name in names:
                if f"{target}.{name}" in files:
                    edges.append((f"{target}.{name}", line, deferred, ()))
        graph[module] = edges
    return graph


def _find_cycle(adjacency):
    """One cycle ``[m0, m1, ..., m0]`` of a ``{node: set(nodes)}`` graph, or None."""
    state = {}  # 1: on the current path, 2: finished
    path = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for target in sorted(adjacency.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(adjacency):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _describe(cycle, graph, files):
    steps = []
    for source, target in zip(cycle, cycle[1:]):
        line, deferred = next((e[1], e[2]) for e in graph[source] if e[0] == target)
        where = files[source].relative_to(ROOT)
        steps.append(
            f"  {source} -> {target}  ({where}:{line}"
            + (", inside a function)" if deferred else ")")
        )
    return "\n".join(steps)


@pytest.fixture(scope="module")
def files():
    return _source_files()


@pytest.fixture(scope="module")
def graph(files):
    return _graph(files)


def _adjacency(graph, deferred):
    return {
        source: {
            target
            for target, _, is_deferred, _ in edges
            if target != source
            and (deferred or not is_deferred)
            and (source, target) not in DEPRECATED_ALIAS_EDGES
        }
        for source, edges in graph.items()
    }


def test_the_graph_sees_the_package(files, graph):
    # Guards the checks below against passing on an empty or misread graph.
    assert {PACKAGE, SO3, f"{SO3}.wigner", f"{PACKAGE}.field_type"} <= set(files)
    assert f"{PACKAGE}.datasets.tetris.tetris_dataset_builder" in files
    assert f"{PACKAGE}.datasets.tetris_scenes.tetris_scenes_dataset_builder" in files
    assert f"{PACKAGE}.datasets.protein_sse.protein_sse_dataset_builder" in files
    targets = {e[0] for e in graph[f"{PACKAGE}.field_type"]}
    assert f"{SO3}.wigner" in targets
    assert f"{PACKAGE}.export.collapse" in {e[0] for e in graph[f"{PACKAGE}.export"]}
    # `from keras_se3.export import collapse, exporters` inside cli's main().
    cli = {(e[0], e[2]) for e in graph[f"{PACKAGE}.export.cli"]}
    assert (f"{PACKAGE}.export.exporters", True) in cli


def test_the_allowed_exceptions_are_still_there(graph):
    # When the deprecated aliases go, this fails: remove DEPRECATED_ALIAS_EDGES.
    for source, target in DEPRECATED_ALIAS_EDGES:
        deferred = {e[2] for e in graph[source] if e[0] == target}
        assert deferred == {True}, (source, target, deferred)


def test_find_cycle_finds_a_deferred_cycle_and_its_path():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]


def test_no_import_cycle_at_import_time(files, graph):
    cycle = _find_cycle(_adjacency(graph, deferred=False))
    assert cycle is None, "Import cycle between keras_se3 modules:\n" + _describe(
        cycle, graph, files
    )


def test_no_import_cycle_counting_imports_inside_functions(files, graph):
    cycle = _find_cycle(_adjacency(graph, deferred=True))
    assert cycle is None, (
        "Import cycle between keras_se3 modules (counting imports deferred into "
        "functions, which only hide a cycle):\n" + _describe(cycle, graph, files)
    )


def test_so3_imports_nothing_else_from_keras_se3(files, graph):
    offending = [
        f"  {files[source].relative_to(ROOT)}:{line} imports {target}"
        + (" (inside a function)" if deferred else "")
        for source, edges in graph.items()
        if source == SO3 or source.startswith(SO3 + ".")
        for target, line, deferred, _ in edges
        if target != SO3
        and not target.startswith(SO3 + ".")
        and (source, target) not in DEPRECATED_ALIAS_EDGES
    ]
    assert not offending, (
        "keras_se3.so3 is the group maths under everything else and must not import "
        "the rest of keras_se3 (feature-map code belongs above FieldType):\n"
        + "\n".join(offending)
    )


def test_no_private_name_of_so3_is_imported_by_another_module(files, graph):
    offending = [
        f"  {files[source].relative_to(ROOT)}:{line} imports {name} from {target}"
        for source, edges in graph.items()
        for target, line, _, names in edges
        if target == SO3 or target.startswith(SO3 + ".")
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not offending, (
        "Private names of keras_se3.so3 imported across modules; make them public "
        "API (a name without the underscore, exported by keras_se3.so3):\n"
        + "\n".join(offending)
    )
