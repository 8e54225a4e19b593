"""notebooks/ is exactly what `python -m autograder release` makes from solutions/, committed as such."""
import json
import shutil
import subprocess

import nbformat
import pytest

from autograder import course
from autograder.release import release
from tests.harness import ROOT


def _load(path):
    return json.loads(path.read_text())


def test_release_is_not_stale(tmp_path):
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    release(tmp_path)
    fresh = sorted(p.relative_to(tmp_path / "notebooks") for p in (tmp_path / "notebooks").rglob("*") if p.is_file())
    repo = sorted(p.relative_to(ROOT / "notebooks") for p in (ROOT / "notebooks").rglob("*")
                  if p.is_file() and ".ipynb_checkpoints" not in p.parts)
    assert fresh == repo, "notebooks/ has other files than a fresh release: run `python -m autograder release`"
    for rel in fresh:
        if rel.suffix == ".ipynb":
            assert _load(tmp_path / "notebooks" / rel) == _load(ROOT / "notebooks" / rel), (
                f"notebooks/{rel} is stale: run `python -m autograder release` (or `make test`) and commit it")
        else:
            assert (tmp_path / "notebooks" / rel).read_bytes() == (ROOT / "notebooks" / rel).read_bytes()


def test_committed_release_is_current():
    """`make test` regenerates notebooks/ first; a difference from the commit means it was stale."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "status", "--porcelain", "--", "notebooks", "solutions"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    changed = [line for line in out.splitlines() if line[3:].startswith("notebooks/")]
    assert not changed, ("the committed notebooks/ differ from a fresh release of solutions/; commit the "
                         f"regenerated notebooks: {changed}")


@pytest.mark.parametrize("folder", [course.RELEASE_DIR, course.SOURCE_DIR])
def test_notebooks_are_committed_without_outputs(folder):
    for path in sorted((ROOT / folder).glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name}: outputs not cleared"


def test_every_assignment_has_its_five_rooms():
    for a in course.assignments():
        assert (ROOT / "book" / f"{a}.md").exists() or (ROOT / "book" / f"{a}.ipynb").exists(), f"no lecture page for {a}"
        assert (ROOT / "notebooks" / a / f"{a}.ipynb").exists(), f"no release notebook for {a}"
        assert (ROOT / "tests" / "chapters" / f"test_{a}.py").exists(), f"no tests of the tests for {a}"
        toc = (ROOT / "_toc.yml").read_text()
        assert f"book/{a}" in toc and f"notebooks/{a}/{a}" in toc, f"{a} is missing from _toc.yml"
