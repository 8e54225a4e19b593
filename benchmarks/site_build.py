"""Site build times: cold build, rebuild with nothing changed, rebuild after editing one page.

Runs in a private copy of the course (so the real ``_build/`` and anyone browsing it are left
alone), with the course's own command, ``jupyter-book build . --warningiserror --keep-going``.
Prints a markdown table; ``--readme FILE`` also writes the README paragraph there.

    .venv/bin/python benchmarks/site_build.py [--readme FILE]

Three edits are timed: a page with no code (the glossary), the prose of the first chapter's
lecture page (its outputs come from the execution cache, ``execute_notebooks: cache``) and a
code cell of that page (it runs again). ``make book`` itself puts a stamp in front
(``_build/.site-student``): with nothing changed it does not start Sphinx at all; that row is
measured too. CPU seconds are reported beside wall seconds: on a busy machine the wall time
grows, the CPU time much less.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
TARGETS = {"nothing changed": 5.0, "one page edited": 15.0}
IGNORE = shutil.ignore_patterns(".git", ".venv", "_build", "__pycache__", ".pytest_cache", ".ipynb_checkpoints",
                                "*.egg-info", ".jupyter_cache")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children: what load on the machine does not inflate)."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONDONTWRITEBYTECODE="1")
    t, c = time.perf_counter(), _cpu()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t, _cpu() - c
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed in {cwd}:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    return wall, cpu


def build(book: Path) -> tuple[float, float]:
    return run([str(BIN / "jupyter-book"), "build", ".", "--warningiserror", "--keep-going"], book)


def median(runs):
    runs = list(runs)
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def edit(path: Path) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write("\n")


def first_chapter(book: Path) -> Path:
    import yaml
    toc = yaml.safe_load((book / "_toc.yml").read_text())
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            if ch["file"].startswith("book/0"):
                return book / f"{ch['file']}.md"
    raise SystemExit("no chapter in _toc.yml")


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--readme", type=Path, help="write the README paragraph (markdown) to this file")
    p.add_argument("--repeat", type=int, default=3, help="runs of each incremental measurement (median)")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="site-bench-") as tmp:
        book = Path(tmp) / "course"
        shutil.copytree(ROOT, book, ignore=IGNORE, symlinks=True)
        rows = []
        rows.append(("cold build (empty `_build/`, every lecture page executed)", *build(book), None))
        rows.append(("rebuild, nothing changed (`jupyter-book build`)", *median(build(book) for _ in range(args.repeat)),
                     TARGETS["nothing changed"]))
        # `make book` as a user runs it: the set-up stamps are fresh (the venv is this one), so
        # make compares the site stamp with every input and starts nothing.
        (book / ".venv").mkdir()
        (book / ".venv" / "bin").symlink_to(ROOT / ".venv" / "bin")   # the copy's own stamps, the real tools
        for stamp in (".venv/.installed", "_build/.released", "_build/.site-student"):
            (book / stamp).touch()
            time.sleep(0.05)
        rows.append(("rebuild, nothing changed (`make book`: the stamp is newer than every input)",
                     *median(run(["make", "--no-print-directory", "book"], book) for _ in range(args.repeat)),
                     TARGETS["nothing changed"]))
        glossary = book / "book" / "glossary.md"
        runs = []
        for _ in range(args.repeat):
            edit(glossary)
            runs.append(build(book))
        rows.append(("rebuild after editing one page with no code (`book/glossary.md`)", *median(runs),
                     TARGETS["one page edited"]))
        chapter = first_chapter(book)
        runs = []
        for _ in range(args.repeat):
            edit(chapter)
            runs.append(build(book))
        rows.append((f"rebuild after editing the prose of a lecture page (`{chapter.relative_to(book)}`; "
                     "its code is unchanged, so its outputs come from the execution cache)", *median(runs),
                     TARGETS["one page edited"]))
        runs = []
        for i in range(args.repeat):
            with chapter.open("a", encoding="utf-8") as f:
                f.write(f"\n```{{code-cell}} ipython3\n:tags: [remove-cell]\n_benchmark = {i}\n```\n")
            runs.append(build(book))
        rows.append((f"rebuild after editing the code of a lecture page (`{chapter.relative_to(book)}` runs again)",
                     *median(runs), TARGETS["one page edited"]))

    pages = sum(1 for _ in (ROOT / "_toc.yml").read_text().splitlines() if "file:" in _) + 1
    machine = f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
    try:
        load = os.getloadavg()[0]
        machine += f", load average {load:.1f} at the start"
    except OSError:
        pass
    lines = ["| build | wall s | CPU s | target (wall) |", "| --- | ---: | ---: | ---: |"]
    for name, secs, cpu, target in rows:
        verdict = "" if target is None else (f"≤ {target:g} s ✓" if secs <= target else f"≤ {target:g} s ✗")
        lines.append(f"| {name} | {secs:.1f} | {cpu:.1f} | {verdict} |")
    table = "\n".join(lines)
    print(f"Site build times, {pages} pages in _toc.yml ({machine}); median of {args.repeat} runs for rebuilds:\n")
    print(table)
    if args.readme:
        args.readme.write_text(README.format(pages=pages, machine=machine, repeat=args.repeat, table=table),
                               encoding="utf-8")
        print(f"\nwrote {args.readme}")
    return 0


README = """### Building the site

`make book` builds the student site into `_build/html`: plain static files that any web server
(or a folder on a course server) can serve. MathJax, require.js, the widget manager and all
fonts are vendored under `book/_extra/_static/` with their licences, so the site makes no request
to any other host. Lecture pages are executed at build time, which saves their figures and widget
state into the page; widgets keep working in the browser with no kernel. `make book
EDITION=instructor` builds a second, private site into `_build/instructor/html` with the solution
notebooks rendered and executed; never publish that one.

`make test` builds the student site if needed and checks it in a real browser (Playwright driving
Debian's `chromium`, which the test set-up installs with `apt-get` when run as root; otherwise
`sudo apt-get install -y chromium`): every page loads with no console error and no off-host
request, math is typeset, each widget responds to input, the download button serves the student
notebook with its nbgrader metadata, search finds every chapter, every link and anchor resolves,
and both themes are legible. Screenshots of every page, light and dark, are saved to
`_build/test-artifacts/`.

Build times (`benchmarks/site_build.py`, {pages} pages; {machine}; median of {repeat} runs for
the rebuilds):

{table}

Sphinx re-reads only the pages that changed, and a lecture page's code runs again only when its
code changes (`execute_notebooks: cache`; the cache in `_build/.jupyter_cache` keeps outputs and
widget state). The cache cannot see edits to the `seqlab` package, so `make book` empties it
when a `seqlab` file changed. Starting Jupyter Book and Sphinx alone takes seconds, which is why
`make book` does not start them at all when no input is newer than its stamp.
"""

if __name__ == "__main__":
    sys.exit(main())
