"""The package's floors: every import of code/headlines points down, never sideways between the jobs' packages,
and no module imports itself back through others. docs/design.md draws the same floors."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[3] / "code" / "headlines"
ROOT = "headlines"
# Top floor first. A module may import its own package and anything on a lower floor: the jobs (and the server)
# never import one another, and what they share sits below them. Top-level modules are the bottom floor.
FLOORS = (
    ("cli",),
    ("classifier", "word_vectors", "serving"),
    ("runtime", "embeddings", "data"),
    (ROOT,),
)


def floor_of(package: str) -> int:
    """The floor of a first-level package (or ROOT for a top-level module)."""
    for number, packages in enumerate(FLOORS):
        if package in packages:
            return number
    raise AssertionError(f"headlines.{package} has no floor in FLOORS: give it one (and docs/design.md)")


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: pathlib.Path, modules: set[str]) -> set[str]:
    """Every module of the package that `path` imports, anywhere in it (imports inside functions too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        found.update(target for target in targets if target in modules)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path, modules) for path in paths}


def first_package(module: str) -> str:
    """`classifier` for headlines.classifier.job, ROOT for headlines.text."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else ROOT


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that point up a floor or sideways to another package of the same floor."""
    violations = []
    for module, targets in graph.items():
        if module == ROOT:
            continue
        source = first_package(module)
        for target in sorted(targets):
            destination = first_package(target)
            if destination == source and source != ROOT:
                continue
            if floor_of(destination) <= floor_of(source) and not (source == destination == ROOT):
                direction = "sideways" if floor_of(destination) == floor_of(source) else "up"
                violations.append(f"{module} imports {target} ({direction})")
    return violations


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles among the package's modules, each as the path that closes it."""
    found, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                found.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_every_import_points_down_the_floors():
    assert layering_violations(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_every_package_has_a_floor():
    for folder in PACKAGE.iterdir():
        if (folder / "__init__.py").exists():
            floor_of(folder.name)


@pytest.mark.parametrize(
    "module, target, direction",
    [
        ("headlines.embeddings.pretrained", "headlines.word_vectors.corpus", "up"),
        ("headlines.classifier.job", "headlines.word_vectors.job", "sideways"),
        ("headlines.text", "headlines.runtime.devices", "up"),
        ("headlines.runtime.signals", "headlines.cli.train", "up"),
    ],
)
def test_an_upward_or_sideways_import_is_reported(module, target, direction):
    graph = import_graph()
    graph[module] = graph[module] | {target}
    assert f"{module} imports {target} ({direction})" in layering_violations(graph)


def test_a_cycle_is_reported():
    graph = import_graph()
    graph["headlines.files"] = graph["headlines.files"] | {"headlines.data.formats"}
    assert ["headlines.files", "headlines.data.formats", "headlines.files"] in cycles(graph)
