"""The layers run one way (docs/ARCHITECTURE.md): every import of the project, including those
inside functions, goes to a lower layer; no app imports another app; nothing in production
imports sim/. Read from the source, so a new module is covered the moment it exists."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Lower number = lower layer. A package may import its own modules and any package of a lower
#: layer; packages on the same layer never import each other.
LAYERS: dict[str, int] = {
    "core": 0,
    "runtime": 1,
    "bus": 2,
    "hub": 3, "sync": 3, "central": 3, "printer": 3,
    "uikit": 4,
    "kiosk": 5, "display": 5, "counter": 5, "feedback_terminal": 5,
    "appliance": 6,
    "cli": 7,
    "sim": 8,
}

#: The one door from production into sim/: `palvelupiste demo` is the demo.
SIM_DOORS = {"cli/demo_cmd.py"}


def project_imports(path: Path, rel: str | None = None) -> list[tuple[int, str]]:
    """(line, module) for every import of a project package in `path`, at any depth."""
    rel = rel or path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), rel)
    found = []
    package = rel.split("/")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names = [package]  # relative: inside its own package
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            if name.split(".")[0] in LAYERS:
                found.append((node.lineno, name))
    return found


def source_files() -> list[tuple[str, Path]]:
    """(path relative to the repository, file) for every module of every package."""
    return sorted((p.relative_to(ROOT).as_posix(), p) for pkg in LAYERS for p in (ROOT / pkg).rglob("*.py"))


def violations(files: list[tuple[str, Path]] | None = None) -> list[str]:
    bad = []
    for rel, path in source_files() if files is None else files:
        here = rel.split("/")[0]
        for line, module in project_imports(path, rel):
            there = module.split(".")[0]
            if there == here:
                continue
            if there == "sim" and rel not in SIM_DOORS:
                bad.append(f"{rel}:{line} imports {module}: production code never imports sim/")
            elif there != "sim" and LAYERS[there] >= LAYERS[here]:
                how = "sideways" if LAYERS[there] == LAYERS[here] else "upward"
                bad.append(f"{rel}:{line} imports {module}: {how} ({here} is layer {LAYERS[here]}, "
                           f"{there} is layer {LAYERS[there]})")
    return bad


def test_every_package_has_a_layer():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(LAYERS), "give each new package a layer here and in docs/ARCHITECTURE.md"


def test_imports_run_one_way():
    assert violations() == []


def test_core_imports_nothing_of_the_project():
    for path in (ROOT / "core").rglob("*.py"):
        others = [m for _, m in project_imports(path) if m.split(".")[0] != "core"]
        assert others == [], path


@pytest.mark.parametrize("snippet, expected", [
    ("import kiosk.flow\n", "sideways"),
    ("def f():\n    from appliance import doctor\n", "upward"),
    ("from sim.crowd import Crowd\n", "never imports sim/"),
])
def test_the_check_catches_a_bad_import(tmp_path, snippet, expected):
    """The checker itself: a bad import in a display module is reported, a good one is not."""
    planted = tmp_path / "planted.py"
    planted.write_text(snippet, encoding="utf-8")
    found = violations([("display/planted.py", planted)])
    assert len(found) == 1 and expected in found[0] and found[0].startswith("display/planted.py:")
    planted.write_text("from core import engine\nfrom uikit import theme\n", encoding="utf-8")
    assert violations([("display/planted.py", planted)]) == []
