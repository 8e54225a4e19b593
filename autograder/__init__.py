"""The course's instructor tools: release the student notebooks, grade a class.

nbgrader is the engine (its gradebook, cell metadata and checksums, its feedback template);
this package sets it up for the course's layout and wraps it so that one broken or hostile
submission costs only its own points. Entry point: ``python -m autograder --help``.

Modules, one job each: cli (arguments) · grade (the pipeline) · plan (which submissions, checked
before anything runs) · store (fingerprints and the results kept between runs) · gradebook (nbgrader's
side; the one writer of gradebook.db) · runner (local pool, progress bar) · cluster (Dask) · worker
(one submission) · assemble (which cells run, and from where) · host (the fork server: a kernel and a
judge per notebook) · bridge/ (the trust boundary: wire, the one format of what crosses; servant, the
kernel's end; judge, where the course's cells run and a pass is decided) · sandbox (users, cgroups,
mounts, limits) · verdict (a test cell's grade, a pure function) · scan (static tamper flags) ·
feedback (HTML) · results (CSVs, summary) · release (the student notebooks).
"""
