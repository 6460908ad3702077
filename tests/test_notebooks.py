"""The walk-through notebooks are up to date with their generator and run top to bottom.

Each notebook is generated from ``notebooks/build.py`` and executed with nbclient on a kernel
whose command is this test's own interpreter (the project's ``.venv`` under ``make test``),
in a temporary directory, so the files they write never land in the repository. A cell that
raises, prints to stderr (a warning, say) or draws no figure where it should fails the test.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_build():
    spec = importlib.util.spec_from_file_location("notebooks_build", ROOT / "notebooks" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()

#: a code cell that draws: it must show at least one figure
DRAWS = re.compile(r"^\s*(ax|fig)\b.*=\s*(plotting\.plot_|plt\.subplots)", re.M)
#: appended to each notebook in the test only: which interpreter ran the kernel
PROBE = "import sys; print('kernel-python:', sys.executable)"


def test_notebooks_match_their_generator():
    assert build.stale() == [], "notebooks/*.ipynb are out of date: run python notebooks/build.py"


def test_notebooks_are_committed_without_outputs():
    import nbformat

    for stem in build.NOTEBOOKS:
        nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("stem", list(build.NOTEBOOKS))
def test_notebook_runs(stem, tmp_path):
    import nbformat

    nb = build.make_notebook(stem, build.NOTEBOOKS[stem])
    nb.cells.append(nbformat.v4.new_code_cell(PROBE, id="kernel-probe"))
    before = _listing()
    build.execute(nb, tmp_path)  # raises CellExecutionError on the first failing cell
    assert _listing() == before, "the notebook wrote into the repository"

    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    probe = code_cells[-1].outputs[0]["text"]
    assert probe.strip() == f"kernel-python: {sys.executable}", "the notebook ran on another Python"
    for cell in code_cells[:-1]:
        stderr = [o["text"] for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        assert not stderr, f"{stem}: cell {cell.id} wrote to stderr:\n{''.join(stderr)}"
        if DRAWS.search(cell.source):
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert images, f"{stem}: cell {cell.id} shows no figure:\n{cell.source}"


def _listing() -> set[str]:
    """Files at the top of the repository and in notebooks/ (what a stray relative path would hit)."""
    return {
        str(p.relative_to(ROOT))
        for folder in (ROOT, ROOT / "notebooks")
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.name != "__pycache__"
    }
