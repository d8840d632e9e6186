"""The layout rules of DESIGN.md section 1, checked on the source: which package may import
which, no import cycles (lazy imports included), unique module names, and the size limits.

The import graph is read with ``ast`` from every file of the library (kancc/, ir/ as
kancc.ir, backends/ as kancc.backends): every ``import`` and ``from ... import`` anywhere in
a file, inside functions too, is an edge to the kancc module it names, and to the packages
above that module whose ``__init__`` the import runs (all but the root ``kancc``, the
public face, and the importer's own packages, already running).
"""

import ast
from collections import Counter
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"kancc": ROOT / "kancc", "kancc.ir": ROOT / "ir",
                "kancc.backends": ROOT / "backends"}
MAX_TOP_LEVEL_MODULES = 8
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_LONG_FUNCTIONS = 3


def library_files() -> dict[str, Path]:
    """Module name -> file, for every module of the library."""
    modules = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts
                     if p != "__init__"]
            modules[".".join([package, *parts])] = path
    return modules


MODULES = library_files()


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imported_modules(module: str) -> set[str]:
    """The kancc modules ``module`` imports, at the top or inside functions."""
    path = MODULES[module]
    package = module if is_package(module) else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    found |= {parent for name in found for parent in packages_above(name)
              if not (module == parent or module.startswith(parent + "."))}
    return {name for name in found if name in MODULES and name != module}


def packages_above(module: str) -> list[str]:
    """kancc.a.b.c -> kancc.a, kancc.a.b: the packages an import of it initializes first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for module in MODULES:
        graph.add_node(module)
        for target in imported_modules(module):
            graph.add_edge(module, target)
    return graph


GRAPH = import_graph()


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


# package -> the kancc packages (besides itself) its modules may import
ALLOWED = {
    "kancc.ir": (),
    "kancc.symbolic": (),
    "kancc.numerics": ("kancc.symbolic", "kancc.errors"),
    "kancc.spec": ("kancc.errors", "kancc.symbolic", "kancc.numerics", "kancc.ir"),
    "kancc.frontend": ("kancc.errors", "kancc.symbolic", "kancc.numerics", "kancc.ir",
                       "kancc.spec"),
    "kancc.passes": ("kancc.errors", "kancc.symbolic", "kancc.numerics", "kancc.ir",
                     "kancc.frontend", "kancc.storage"),
    "kancc.backends": ("kancc.errors", "kancc.version", "kancc.ir"),
    "kancc.data": ("kancc.errors",),
    "kancc.storage": ("kancc.errors", "kancc.version", "kancc.spec", "kancc.frontend"),
    "kancc.interop": ("kancc.errors", "kancc.spec", "kancc.frontend"),
    "kancc.physics": ("kancc.errors", "kancc.ir", "kancc.spec", "kancc.frontend",
                      "kancc.passes"),
}
# package -> the packages nothing it imports may lead to, however indirectly
NEVER_REACHES = {
    "kancc.ir": ("kancc.spec", "kancc.frontend", "kancc.passes", "kancc.backends",
                 "kancc.training", "kancc.tools", "kancc.program", "kancc.cli"),
    "kancc.symbolic": ("kancc.ir", "kancc.spec", "kancc.passes", "kancc.backends",
                       "kancc.training", "kancc.tools", "kancc.program"),
    "kancc.passes": ("kancc.backends", "kancc.training", "kancc.tools", "kancc.program",
                     "kancc.cli", "kancc.cli_commands"),
    "kancc.backends": ("kancc.spec", "kancc.frontend", "kancc.passes", "kancc.training",
                       "kancc.tools", "kancc.program", "kancc.storage"),
    "kancc.tools": ("kancc.training", "kancc.cli", "kancc.cli_commands"),
}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependency_rules(package):
    """DESIGN.md 1: ir imports nothing of kancc, symbolic is standalone, numerics is float
    math on arrays, passes never import a backend or a trainer, backends import only ir (and
    the leaf modules errors and version)."""
    allowed = ALLOWED[package]
    for module in (m for m in MODULES if within(m, package)):
        for target in GRAPH.successors(module):
            assert within(target, package, *allowed), \
                f"{module} imports {target}, which {package} may not depend on"


@pytest.mark.parametrize("package", sorted(NEVER_REACHES))
def test_what_a_package_never_loads(package):
    """Following imports transitively (the package __init__ files included), ir and symbolic
    load nothing above them, passes never a backend or a trainer, backends nothing but ir."""
    for module in (m for m in MODULES if within(m, package)):
        reached = nx.descendants(GRAPH, module)
        bad = sorted(m for m in reached if within(m, *NEVER_REACHES[package]))
        assert not bad, f"{module} loads {bad[:3]}"


def test_tools_and_training_sit_on_top():
    """Nothing below the tools and the trainers imports them; tools never import trainers."""
    for module, target in GRAPH.edges:
        if within(target, "kancc.training", "kancc.tools"):
            assert within(module, "kancc.training", "kancc.tools", "kancc.cli",
                          "kancc.cli_commands") or module == "kancc", (module, target)
        if within(module, "kancc.tools"):
            assert not within(target, "kancc.training", "kancc.cli"), (module, target)


def test_no_import_cycles():
    cycles = list(nx.simple_cycles(GRAPH))
    assert not cycles, f"import cycles: {cycles[:3]}"


def test_the_graph_sees_lazy_imports():
    """The scan is not vacuous: it finds the library's edges, and an import inside a function
    (kancc.tools.analyze imports its plotting module only when plotting) is one of them."""
    assert GRAPH.number_of_edges() > 100
    assert GRAPH.has_edge("kancc.tools.analyze", "kancc.tools.plots")
    assert GRAPH.has_edge("kancc.program", "kancc.backends")


def test_top_level_keeps_only_the_face():
    top = [p.name for p in (ROOT / "kancc").glob("*.py")]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, sorted(top)


def test_module_names_are_unique():
    """One file of each name, but for package __init__ files and the sibling backend
    folders (backends/numpy/emitter.py and backends/triton/emitter.py)."""
    def counted(module: str) -> bool:
        parent = module.rpartition(".")[0]
        return not is_package(module) and parent not in ("kancc.backends.numpy",
                                                         "kancc.backends.triton")

    names = Counter(m.rpartition(".")[2] for m in MODULES if counted(m))
    assert not [name for name, count in names.items() if count > 1]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_file_size(module):
    lines = MODULES[module].read_text().count("\n")
    assert lines <= MAX_FILE_LINES, f"{module}: {lines} lines"


def long_functions() -> list[tuple[str, str, int, bool]]:
    """(module, function, lines, says why) of every function over the limit; a long function
    says why with a comment starting "Long by design" just above its definition."""
    found = []
    for module, path in MODULES.items():
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                above = " ".join(lines[max(0, first - 4):first - 1])
                found.append((module, node.name, length, "Long by design" in above))
    return found


def test_long_functions_are_few_and_say_why():
    found = long_functions()
    assert len(found) <= MAX_LONG_FUNCTIONS, found
    assert all(says_why for *_, says_why in found), found
