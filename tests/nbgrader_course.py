"""What the tests of nbgrader's own tools share: a throw-away copy of the course, the users who
run commands in it (instructor, students), and notebooks filled in as a student would.

The tests never touch the real course folder's ``submitted/``, ``autograded/``, ``grading/`` or
exchange: every command runs in a copy under ``tmp_path``, each user with their own ``HOME``
(nbgrader's exchange keeps a student's submission cache there).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COURSE_ID = "seq-models-from-scratch"
#: What an instructor's command needs of the course: nbgrader's config and the code it imports,
#: the sources and the release, and the students' folder with its config (not the working copies
#: in it). (seqlab comes from the environment, installed in editable mode.)
COURSE_PARTS = ("nbgrader_config.py", "autograder", "solutions", "notebooks", "work/nbgrader_config.py")


def copy_course(dest: Path) -> Path:
    """A copy of the course's nbgrader parts at ``dest`` (its root, as the repo root is)."""
    dest.mkdir(parents=True)
    for part in COURSE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)
    return dest


@dataclass
class User:
    """Someone who runs commands: their name (nbgrader's student id), home and working folder."""

    name: str
    home: Path
    cwd: Path
    exchange: Path
    extra_env: dict | None = None  # e.g. JUPYTER_CONFIG_DIR for a user's own Jupyter settings

    def env(self) -> dict:
        env = dict(os.environ, USER=self.name, LOGNAME=self.name, HOME=str(self.home),
                   PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
            env.pop(var, None)  # nbgrader's cache lives in $HOME's Jupyter data folder
        env.update(self.extra_env or {})
        return env

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``args`` (a command of the environment, e.g. ``nbgrader list``) in ``cwd``."""
        cmd = [str(BIN / args[0]), *args[1:]] if (BIN / args[0]).exists() else list(args)
        r = subprocess.run(cmd, cwd=self.cwd, env=self.env(), capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"`{' '.join(args)}` as {self.name} in {self.cwd} exited {r.returncode}:\n"
                                 f"{r.stdout[-3000:]}\n{r.stderr[-5000:]}")
        return r

    def nbgrader(self, *args: str, **kw) -> subprocess.CompletedProcess:
        """A stock ``nbgrader`` command with this test's exchange folder."""
        return self.run("nbgrader", *args, f"--Exchange.root={self.exchange}", **kw)


def make_user(tmp: Path, name: str, exchange: Path, cwd: Path | None = None) -> User:
    home = tmp / "home" / name
    home.mkdir(parents=True, exist_ok=True)
    return User(name, home, cwd or home, exchange)


def solution_sources(assignment: str, notebook: str | None = None) -> dict[str, str]:
    """grade_id -> source of every answer cell of the course's solution notebook."""
    nb = json.loads((ROOT / "solutions" / assignment / f"{notebook or assignment}.ipynb").read_text(encoding="utf-8"))
    out = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        if meta.get("solution") and not meta.get("grade"):
            out[meta["grade_id"]] = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return out


def fill_in(path: Path, answers: dict[str, str]) -> None:
    """Write ``answers`` (grade_id -> code) into the answer cells of the notebook at ``path``."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    filled = set()
    for cell in nb["cells"]:
        gid = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
        if gid in answers:
            cell["source"] = answers[gid]
            filled.add(gid)
    assert filled == set(answers), f"answer cells not found in {path}: {sorted(set(answers) - filled)}"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_csv(path: Path) -> list[dict]:
    import csv

    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """A Jupyter server started as ``user`` in their working folder by ``command`` (``jupyter
    server``, ``jupyter lab`` or the README's command line, its first word a path relative to
    that folder or a command of the environment), on 127.0.0.1 with a free port and a token,
    killed (its whole process group) on ``close``. Its log is kept for failure messages."""

    TOKEN = "course-test-token"

    def __init__(self, user: User, command: list[str] | tuple[str, ...] = ("jupyter", "server"), timeout: float = 120):
        import time
        import urllib.request

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/"
        self.log = user.home / f"jupyter-{self.port}.log"
        exe = command[0] if (user.cwd / command[0]).exists() or "/" in command[0] else str(BIN / command[0])
        cmd = [exe, *command[1:], "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               f"--IdentityProvider.token={self.TOKEN}", "--ServerApp.port_retries=0"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # the test machine runs as root; a student's never does
        self.command = cmd
        self._fh = self.log.open("w")
        self.proc = subprocess.Popen(cmd, cwd=user.cwd, env=user.env(), stdout=self._fh, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"`{' '.join(cmd)}` exited {self.proc.returncode} before serving:\n{self.log_text()}")
            try:
                urllib.request.urlopen(self.url("api/status"), timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise AssertionError(f"`{' '.join(cmd)}` did not answer in {timeout} s:\n{self.log_text()}")
                time.sleep(0.5)

    @property
    def root_dir(self) -> Path:
        """The folder the server serves (from its log: jupyter_server names it at start-up)."""
        import re

        self._fh.flush()
        text = self.log.read_text(encoding="utf-8", errors="replace")
        m = re.search(r"Serving notebooks from local directory: (.+)", text)
        assert m, text[-3000:]
        return Path(m.group(1).strip())

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.TOKEN}"

    def get_json(self, path: str):
        import urllib.request

        with urllib.request.urlopen(self.url(path), timeout=60) as r:
            return json.loads(r.read().decode("utf-8"))

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        self._fh.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")[-6000:]

    def close(self) -> None:
        import signal

        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self._fh.close()
