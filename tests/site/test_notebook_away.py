"""A notebook downloaded from the site works away from the course folder.

The student's situation, reproduced: the built site is published at an address (here a server on
localhost; the build stamps the notebooks it serves with that address, exactly as `make book` does
with ``html.baseurl`` set), and a *fresh* Python environment has NumPy, PyTorch and Jupyter but
neither `seqlab` nor the course folder on its path. The downloaded notebook's first cell must
install `seqlab` from the site; with the stubs, Run All must stop at the first test with a message
naming the function to write; with the solutions filled in, the visible tests must pass.
"""
from __future__ import annotations

import json
import os
import shutil
import site as site_module
import subprocess
import sys
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests.site import helpers

sys.path.insert(0, str(helpers.ROOT / "book" / "_extra" / "_ext"))
import seqlab_wheel

pytestmark = [pytest.mark.site, pytest.mark.slow]

EXERCISE = "02-rnn"
FIRST_FUNCTION = "rnn_step"
KERNEL = "seqlab-fresh"


@pytest.fixture(scope="module")
def published(site, tmp_path_factory):
    """A copy of the built site served on localhost, published at that address."""
    root = tmp_path_factory.mktemp("published") / "html"
    shutil.copytree(site, root)
    server = helpers.Server(root)
    seqlab_wheel.publish(helpers.ROOT, root, server.base)
    yield server
    server.close()


@pytest.fixture(scope="module")
def unpublished(site, tmp_path_factory):
    """A copy of the built site served on localhost as `make book` leaves it with html.baseurl empty:
    its notebooks carry no address (the address it is served from is one the build never knew)."""
    root = tmp_path_factory.mktemp("unpublished") / "html"
    shutil.copytree(site, root)
    for nb in (root / "_sources").rglob("*.ipynb"):  # as released, whatever _config.yml says today
        shutil.copy(helpers.ROOT / nb.relative_to(root / "_sources"), nb)
    server = helpers.Server(root)
    yield server
    server.close()


def _third_party_only(tmp: Path) -> Path:
    """A folder of links to the course environment's packages, minus seqlab (its editable install too)."""
    deps = tmp / "deps"
    deps.mkdir()
    for sp in site_module.getsitepackages():
        for entry in Path(sp).iterdir():
            if "seqlab" in entry.name.lower() or entry.name.endswith(".pth") or entry.name == "__pycache__":
                continue
            if not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    return deps


def fresh_python(tmp: Path) -> Path:
    """A new virtual environment (with pip) that sees NumPy, PyTorch and Jupyter, but not seqlab."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "course_deps.pth").write_text(str(_third_party_only(tmp)) + "\n")
    probe = subprocess.run([str(python), "-c", "import seqlab"], capture_output=True, text=True, cwd=tmp)
    assert probe.returncode != 0, "the fresh environment can already import seqlab: the test would prove nothing"
    return python


def _download(server, exercise: str) -> nbformat.NotebookNode:
    page = urllib.request.urlopen(f"{server.base}notebooks/{exercise}/{exercise}.html", timeout=30).read().decode()
    href = f"_sources/notebooks/{exercise}/{exercise}.ipynb"
    assert href in page, f"the {exercise} page has no download link to {href}"
    data = urllib.request.urlopen(server.base + href, timeout=30).read().decode()
    return nbformat.reads(data, as_version=4)


class Kernel:
    """A Jupyter kernel of the fresh environment, running cells one at a time in a folder of its own."""

    def __init__(self, python: Path, workdir: Path, monkeypatch):
        spec = workdir / "jupyter" / "kernels" / KERNEL
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": KERNEL, "language": "python",
            "env": {"SEQLAB_QUICK": "1", "PYTHONPATH": "", "MPLBACKEND": "Agg"}}))
        monkeypatch.setenv("JUPYTER_PATH", str(workdir / "jupyter"))
        from nbclient import NotebookClient

        self.nb = nbformat.v4.new_notebook()
        self.client = NotebookClient(self.nb, kernel_name=KERNEL, timeout=600, allow_errors=True,
                                     resources={"metadata": {"path": str(workdir)}})
        self.client.km = self.client.create_kernel_manager()
        self.client.start_new_kernel()
        self.client.start_new_kernel_client()

    def run(self, source: str) -> tuple[str, dict | None]:
        """(stdout, error output or None) of one cell."""
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.nb.cells) - 1)
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
        error = next((o for o in cell.outputs if o.output_type == "error"), None)
        return text, error

    def close(self):
        self.client._cleanup_kernel()


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    work = tmp_path / "student"
    work.mkdir()
    k = Kernel(fresh_python(tmp_path), work, monkeypatch)
    yield k
    k.close()


def _grade_id(cell) -> str | None:
    return (cell.metadata.get("nbgrader") or {}).get("grade_id")


def test_setup_cell_installs_seqlab_and_run_all_stops_at_the_first_stub(published, kernel):
    nb = _download(published, EXERCISE)
    setup = nb.cells[[_grade_id(c) for c in nb.cells].index("setup")]
    assert f'SEQLAB_WHEEL = "{published.base}_static/seqlab-' in setup.source, "the served notebook was not stamped"
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        out, error = kernel.run(cell.source)
        if error is not None:
            break
        if _grade_id(cell) == "setup":
            where, _ = kernel.run("import seqlab; print(seqlab.__file__)")
            assert "/venv/" in where, f"seqlab was not installed into the fresh environment: {where}"
            assert "note:" not in out, f"the setup cell reported a version mismatch: {out}"
    assert error is not None, "Run All went through a notebook of stubs without an error"
    assert _grade_id(cell) == f"test_{FIRST_FUNCTION}_visible", f"Run All stopped at {_grade_id(cell)}"
    assert error["ename"] == "CheckError" and f"{FIRST_FUNCTION} is not written yet" in error["evalue"], error


def test_with_the_solutions_filled_in_the_visible_tests_pass(published, kernel):
    nb = _download(published, EXERCISE)
    answers = {_grade_id(c): c.source for c in nbformat.read(helpers.ROOT / "solutions" / EXERCISE / f"{EXERCISE}.ipynb",
                                                             as_version=4).cells
               if (c.metadata.get("nbgrader") or {}).get("solution")}
    failed = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        gid = _grade_id(cell)
        _, error = kernel.run(answers.get(gid, cell.source))
        if error is not None:
            failed[gid or cell.source[:40]] = f"{error['ename']}: {error['evalue'][:300]}"
    assert not failed, f"cells failed with the solutions filled in: {failed}"


def test_a_version_mismatch_is_one_line_with_the_fix(published, kernel):
    setup = _download(published, EXERCISE).cells[1]
    assert _grade_id(setup) == "setup"
    kernel.run(setup.source)
    older = setup.source.replace('SEQLAB_VERSION = "', 'SEQLAB_VERSION = "0.0.1+', 1)
    out, error = kernel.run(older)
    assert error is None, error
    notes = [line for line in out.splitlines() if line.strip()]
    assert len(notes) == 1 and notes[0].startswith("note: seqlab ") and "0.0.1+" in notes[0], out
    assert "pip install" in notes[0] and "_static/seqlab-" in notes[0] and "restart the kernel" in notes[0], notes[0]


def test_an_unpublished_sites_notebook_names_its_wheel_and_installs_it_saved_beside_it(unpublished, kernel, tmp_path):
    setup = _download(unpublished, EXERCISE).cells[1]
    assert _grade_id(setup) == "setup" and 'SEQLAB_WHEEL = ""' in setup.source
    wheel = seqlab_wheel.wheel_name(helpers.ROOT)
    _, error = kernel.run(setup.source)
    assert error is not None and error["ename"] == "ImportError", error
    message = error["evalue"]
    # the exact commands, by the wheel's name and version, and where the site serves it; no loop back to the site
    assert f"_static/{wheel}" in message and f"%pip install {wheel}" in message, message
    assert f"%pip install <the site's address>/_static/{wheel}" in message, message
    assert "download it again" not in message

    # The student saves the wheel the site serves into the notebook's folder and runs the cell again.
    data = urllib.request.urlopen(f"{unpublished.base}_static/{wheel}", timeout=30).read()
    (tmp_path / "student" / wheel).write_bytes(data)
    out, error = kernel.run(setup.source)
    assert error is None, error
    assert "note:" not in out, out
    where, _ = kernel.run("import seqlab; print(seqlab.__file__)")
    assert "/venv/" in where, f"seqlab was not installed into the fresh environment: {where}"


def test_make_book_says_in_one_line_that_an_unpublished_site_is_not_publishable(tmp_path):
    import yaml

    # The recipe `make book` ends with, run alone: its stamp counts as up to date (-o), nothing is built.
    r = subprocess.run(["make", "-s", "-o", "_build/.site-student", "book-student"], cwd=helpers.ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    base = (yaml.safe_load((helpers.ROOT / "_config.yml").read_text()).get("html") or {}).get("baseurl")
    lines = r.stdout.splitlines()
    if base:
        assert lines == [], lines
    else:
        assert len(lines) == 1 and lines[0].startswith("note: the site in _build/html is not publishable yet: "
                                                       "set html.baseurl in _config.yml"), lines
        assert seqlab_wheel.wheel_name(helpers.ROOT) in lines[0]
    # with an address, nothing to say
    (tmp_path / "seqlab").mkdir()
    shutil.copy(helpers.ROOT / "seqlab" / "__init__.py", tmp_path / "seqlab" / "__init__.py")
    config = yaml.safe_load((helpers.ROOT / "_config.yml").read_text())
    config["html"]["baseurl"] = "https://courses.example.edu/seq-models/"
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    assert seqlab_wheel.unpublished_notice(tmp_path) is None
    config["html"]["baseurl"] = ""
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    assert seqlab_wheel.unpublished_notice(tmp_path).startswith("note: the site in _build/html is not publishable yet")


def test_a_hub_administrator_installs_seqlab_with_one_command(published, tmp_path):
    python = fresh_python(tmp_path)
    wheel = seqlab_wheel.wheel_name(helpers.ROOT)
    # the command the grading page gives the administrator, with this site's address
    r = subprocess.run([str(python), "-m", "pip", "install", f"{published.base}_static/{wheel}"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    got = subprocess.run([str(python), "-c", "import seqlab; print(seqlab.__version__)"], capture_output=True,
                         text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=""))
    assert got.stdout.strip() == seqlab_wheel.version(helpers.ROOT), got.stderr


def test_a_wheel_that_does_not_match_its_checksum_is_refused(published, tmp_path):
    python = fresh_python(tmp_path)
    url = f"{published.base}_static/{seqlab_wheel.wheel_name(helpers.ROOT)}#sha256={'0' * 64}"
    r = subprocess.run([str(python), "-m", "pip", "install", url], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert r.returncode != 0 and "hash" in (r.stdout + r.stderr).lower(), r.stdout[-1500:] + r.stderr[-1500:]


def test_the_site_serves_the_wheel_with_its_checksum(site):
    wheel = site / seqlab_wheel.STATIC / seqlab_wheel.wheel_name(helpers.ROOT)
    assert wheel.exists(), f"{wheel} missing: the site build did not publish seqlab"
    sums = (site / seqlab_wheel.STATIC / seqlab_wheel.CHECKSUMS).read_text().split()
    assert sums == [seqlab_wheel.sha256(wheel), wheel.name]


def test_the_wheel_is_reproducible_and_holds_the_package(tmp_path):
    import zipfile

    first = seqlab_wheel.build_wheel(helpers.ROOT, tmp_path / "a")
    second = seqlab_wheel.build_wheel(helpers.ROOT, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes(), "two builds of the same seqlab differ: the checksum would churn"
    names = set(zipfile.ZipFile(first).namelist())
    sources = {p.relative_to(helpers.ROOT).as_posix() for p in (helpers.ROOT / "seqlab").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert sources <= names, f"files of seqlab missing from the wheel: {sorted(sources - names)}"


def test_every_notebook_asks_for_the_installed_seqlab_version():
    import seqlab

    for path in sorted((helpers.ROOT / "solutions").glob("*/*.ipynb")):
        setup = next(c for c in nbformat.read(path, as_version=4).cells if _grade_id(c) == "setup")
        assert f'SEQLAB_VERSION = "{seqlab.__version__}"' in setup.source, f"{path.name}: setup cell asks for another seqlab"
        assert seqlab_wheel.WHEEL_LINE.search(setup.source), f"{path.name}: setup cell has no SEQLAB_WHEEL line to stamp"
