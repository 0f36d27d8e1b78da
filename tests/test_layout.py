"""The layout's promise (docs/pipeline.md, "Project layout"): imports run one way, no folder outgrows the others,
and the task order is written once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from image.paths import REPO

# A folder may import only folders of a lower rank (or its own).
RANK = {"plumbing": 0, "entry": 0, "image": 1, "harness": 2, "pipeline": 3, "qa": 4, "bench": 4, "tests": 5}
NEVER_IMPORTED = {"qa", "bench", "dodo", "noxfile"}


def project_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        found |= {n.split(".")[0] for n in names if n.split(".")[0] in RANK | dict.fromkeys(NEVER_IMPORTED)}
    return found


def python_files() -> dict[str, list[Path]]:
    return {folder: sorted((REPO / folder).rglob("*.py")) for folder in RANK}


def test_imports_run_one_way():
    wrong = []
    for folder, files in python_files().items():
        for path in files:
            for target in project_imports(path):
                if target in NEVER_IMPORTED and not (folder == "tests" and target == "tests"):
                    wrong.append(f"{path.relative_to(REPO)} imports {target}")
                elif target in RANK and RANK[target] > RANK[folder]:
                    wrong.append(f"{path.relative_to(REPO)} ({folder}) imports {target}")
    assert wrong == []


def test_no_folder_over_a_third_of_the_lines():
    lines = {folder: sum(len(p.read_text().splitlines()) for p in files) for folder, files in python_files().items()}
    total = sum(lines.values()) + sum(len((REPO / f).read_text().splitlines()) for f in ("dodo.py", "noxfile.py"))
    shares = {folder: round(n / total, 2) for folder, n in lines.items()}
    assert max(shares.values()) <= 0.3, shares


def test_task_order_is_written_once():
    pattern = re.compile(r'"pin",\s*"template"')
    holders = [
        str(p.relative_to(REPO))
        for p in [*REPO.glob("*.py"), *(f for files in python_files().values() for f in files)]
        if pattern.search(p.read_text()) and p.name != "test_layout.py"
    ]
    assert holders == ["pipeline/order.py"]


def test_contract_raw_only_inside_its_model():
    users = [
        str(p.relative_to(REPO))
        for files in python_files().values()
        for p in files
        if "contract.raw[" in p.read_text().lower() and p.name not in ("contract.py", "test_layout.py")
    ]
    assert users == []


def test_no_script_shadows_a_package():
    """bench/ scripts run as `python bench/x.py`, so bench/ comes first on sys.path: a bench/pipeline.py once
    hid the pipeline package from every bench script."""
    packages = {p.name for p in REPO.iterdir() if (p / "__init__.py").exists()}
    scripts = {p.stem for p in (REPO / "bench").glob("*.py")}
    assert scripts & packages == set()
