"""The exercise page's download button serves the student notebook as released: byte for byte
the file in notebooks/ (but for the wheel's address, on a site published at one), nbgrader metadata intact, and its tests fail on the stubs
(`nbgrader validate --invert` succeeds), so a student starts from a notebook that can be graded."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.site import helpers

pytestmark = pytest.mark.site

INVERT_OK = "Success! The notebook does not pass any tests."
STAMPED = re.compile(r'SEQLAB_WHEEL = "[^"]+"')


def _download(visits, exercise: str) -> bytes:
    page = visits.get(exercise).page
    link = page.locator("a.btn-download-source-button")
    assert link.count() == 1, f"{exercise}: no download button for the source notebook"
    href = link.first.get_attribute("href")
    assert href and href.endswith(".ipynb"), f"{exercise}: the download button points at {href!r}, not a notebook"
    url = page.evaluate("(h) => new URL(h, document.baseURI).href", href)
    response = page.context.request.get(url)
    assert response.ok, f"{exercise}: downloading {url} gave HTTP {response.status}"
    return response.body()


def _unstamped(nb):
    """The notebook as released: a site published at an address (``html.baseurl``) writes its wheel's
    address into the setup cell's ``SEQLAB_WHEEL`` line and refreshes that cell's checksum; undo both."""
    for cell in nb.cells:
        if cell.cell_type == "code" and STAMPED.search(cell.source):
            cell.source = STAMPED.sub('SEQLAB_WHEEL = ""', cell.source)
            cell.metadata.get("nbgrader", {}).pop("checksum", None)
    return nb


def test_download_serves_the_release_notebook(exercise, visits):
    data = _download(visits, exercise)
    released = helpers.ROOT / f"{exercise}.ipynb"
    if data != released.read_bytes():
        got = _unstamped(nbformat.reads(data.decode("utf-8"), as_version=4))
        want = _unstamped(nbformat.read(released, as_version=4))
        assert got == want, f"{exercise}: the downloaded notebook differs from {released.relative_to(helpers.ROOT)}"
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    nbformat.validate(nb)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    solution = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert graded and solution, f"{exercise}: no graded or solution cells: nbgrader metadata lost"
    for c in graded + solution:
        meta = c.metadata["nbgrader"]
        assert meta.get("grade_id") and "schema_version" in meta, f"{exercise}: incomplete nbgrader metadata {meta}"
        if meta.get("grade"):
            assert "points" in meta, f"{exercise}: graded cell {meta['grade_id']} without points"


def test_downloaded_notebook_fails_its_tests_on_the_stubs(exercise, visits, tmp_path):
    data = _download(visits, exercise)
    path = tmp_path / Path(exercise).name
    path = path.with_suffix(".ipynb")
    path.write_bytes(data)
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", SEQLAB_QUICK="1")
    r = subprocess.run([str(bin_dir / "nbgrader"), "validate", "--invert", path.name], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    if INVERT_OK not in out:
        nb = json.loads(data)
        empty = [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
                 if c["metadata"].get("nbgrader", {}).get("grade")
                 and not "".join(line for line in "".join(c["source"]).splitlines(True) if not line.lstrip().startswith("#")).strip()]
        hint = (f"\ngraded cells with no code in the release (they pass on the stubs): {empty}" if empty else "")
        verdict = [line for line in out.splitlines() if "PASSED ON" in line or "Error" in line or "error" in line][:5]
        pytest.fail(f"{exercise}: `nbgrader validate --invert` did not succeed: tests pass on the stubs "
                    f"({'; '.join(verdict) or out[-1500:]}){hint}", pytrace=False)
