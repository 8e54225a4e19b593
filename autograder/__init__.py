"""The course's instructor tools: release the student notebooks, grade a class.

nbgrader is the engine (its gradebook, cell metadata and checksums, its feedback template);
this package sets it up for the course's layout and wraps it so that one broken or hostile
submission costs only its own points. Entry point: ``python -m autograder --help``.

Modules, one job each: cli (arguments) · grade (the pipeline) · plan (which submissions, checked
before anything runs) · store (fingerprints and the results kept between runs) · gradebook (nbgrader's
side; the one writer of gradebook.db) · runner (local pool, progress bar) · cluster (Dask) · worker
(one submission) · assemble (which cells run, and from where) · results (CSVs, summary) · release
(the student notebooks) · wire (the one definition of what crosses the trust boundary).

Two folders show that boundary: ``kernel/`` is what runs beside the student's code and is never
believed (the fork server, the sandbox, the kernel's end of the bridge); ``judge/`` is what decides,
where no student code ever runs (the judge's end of the bridge, the verdict, the scan, the feedback).
"""
