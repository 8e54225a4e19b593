"""The course's instructor tools: release the student notebooks, grade a class.

nbgrader is the engine (its gradebook, cell metadata and checksums, its feedback template);
this package sets it up for the course's layout and wraps it so that one broken or hostile
submission costs only its own points. Entry point: ``python -m autograder --help``.

Modules, one job each: cli (arguments) · grade (the pipeline) · plan (which submissions, checked
before anything runs) · store (fingerprints and the results kept between runs) · gradebook (nbgrader's
side; the one writer of gradebook.db) · runner (local pool, progress bar) · cluster (Dask) · worker
(one submission) · assemble (which cells run, and from where) · records (what a worker is asked and
answers: jobs, verdicts, statuses) · results (CSVs, summary) · release (the student notebooks) ·
limits (what a kernel may use, one default each) · protocol (every message between the grader's
processes, and its framing) · wire (the values that cross the trust boundary).

The processes beneath a worker, one folder each (README "How the grader is built" draws it):
``forkserver/`` forks each notebook's two processes and decides nothing; ``kernel/`` is what runs
beside the student's code and is never believed (the kernel's start, its end of the bridge, the
recorder); ``judge/`` is what decides, where no student code ever runs (its end of the bridge, which
names cross, the verdict, the scan, the feedback); ``sandbox/`` confines the kernel (slots, cgroups,
confinement, the probe, cleanup). Nothing in ``kernel/`` imports ``judge/`` or the other way round
(tests/test_layout.py).
"""
import importlib.util as _importlib_util
import sys as _sys


def _import_costs_down() -> None:
    """Two imports that cost seconds in every process of the grader, for nothing it uses:

    - jsonschema loads rfc3987_syntax's format checker when it can, and that module compiles a
      grammar at import; nbformat's validation (all the grader asks of jsonschema) never uses it;
    - ``import nbgrader`` (the package) loads its Jupyter server extensions (jupyter_server, its
      exchange and formgrader handlers) before any submodule; the grader uses its submodules
      (``nbgrader.api``, ``nbgrader.apps``, ``nbgrader.utils``), so the package is made from its
      spec without running that ``__init__``. A Jupyter server loads nbgrader in its own process.
    """
    _sys.modules.setdefault("rfc3987_syntax", None)
    if "nbgrader" not in _sys.modules:
        spec = _importlib_util.find_spec("nbgrader")
        if spec is not None and spec.submodule_search_locations:
            package = _importlib_util.module_from_spec(spec)
            _sys.modules["nbgrader"] = package
            from nbgrader._version import __version__

            package.__version__ = __version__


_import_costs_down()
