"""docs/design.md's module map lists every module and package of code/headlines, in the folder it is in, and
nothing that is not there."""

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[3]
PACKAGE = REPO / "code" / "headlines"
MAP_START = "code/headlines/"
INDENT = 2  # spaces per folder level


def mapped_paths(design: str) -> set[str]:
    """The paths the map names, each built from its indentation under code/headlines/ (continuation lines, indented
    to the description column, name nothing)."""
    lines = design.split("```\n" + MAP_START, 1)[1].splitlines()[1:]
    folders: list[str] = []
    paths = set()
    for line in lines:
        match = re.match(r"( +)(\S+)", line)
        if not match or len(match.group(1)) % INDENT or not re.fullmatch(r"[\w]+(\.py|/)", match.group(2)):
            if not line.startswith(" "):
                break
            continue
        depth = len(match.group(1)) // INDENT - 1
        folders = folders[:depth]
        name = match.group(2)
        paths.add("/".join(folders + [name]))
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
    return paths


def tree_paths() -> set[str]:
    paths = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if path.name == "__init__.py":
            if relative.parent != pathlib.Path("."):
                paths.add(f"{relative.parent.as_posix()}/")
        else:
            paths.add(relative.as_posix())
    return paths


def test_the_design_map_is_the_tree():
    mapped = mapped_paths((REPO / "docs" / "design.md").read_text(encoding="utf-8"))
    tree = tree_paths()
    assert sorted(tree - mapped) == [], "modules missing from docs/design.md's map"
    assert sorted(mapped - tree) == [], "docs/design.md's map names what code/headlines does not have"


def test_a_module_in_the_wrong_folder_is_noticed():
    design = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    moved = design.replace("\n    loop.py ", "\n  loop.py   ", 1)
    assert "loop.py" in mapped_paths(moved) and "classifier/loop.py" not in mapped_paths(moved)
