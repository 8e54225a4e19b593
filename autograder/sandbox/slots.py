"""A worker's slot: a number held by an flock for the worker's life, the slot's unprivileged user,
and its scratch folder (the worker makes it, the run that started the worker removes it)."""
from __future__ import annotations

import fcntl
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

SLOT_DIR = Path("/tmp/seqgrade-slots")
USER_PREFIX = "seqgrade-w"
#: Where the slots' scratch folders (seqgrade-w<N>, worker.py) and the runs' private copies of the
#: course (seqgrade-course-*, grade.py) are made.
TMP = Path("/tmp")
#: In a scratch folder: the pid of the grading run whose worker made it.
RUN_MARK = ".run"


def is_root() -> bool:
    return os.geteuid() == 0


def acquire_slot() -> tuple[int, int]:
    """A slot number free on this machine, held (by an flock) as long as the process lives."""
    SLOT_DIR.mkdir(mode=0o755, exist_ok=True)
    for n in range(256):
        fd = os.open(SLOT_DIR / f"slot{n}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return n, fd
        except BlockingIOError:
            os.close(fd)
    raise RuntimeError("no free grading slot")


def ensure_user(slot: int) -> tuple[int, int] | None:
    """(uid, gid) of the slot's unprivileged user, creating it when root; None if impossible."""
    if not is_root():
        return None
    name = f"{USER_PREFIX}{slot}"
    for attempt in range(20):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            pass
        r = subprocess.run(["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin",
                            "--home-dir", "/nonexistent", name], capture_output=True, text=True)
        if r.returncode not in (0, 9):  # 9: exists (another worker made it)
            if "lock" in r.stderr.lower():
                time.sleep(0.1 * (attempt + 1))
                continue
            return None
    return None


def kill_user_processes(uid: int | None) -> int:
    """Kill every process of ``uid`` (the slot's user runs nothing else); how many there were."""
    if uid is None or uid == 0:
        return 0
    killed: set[int] = set()
    for _ in range(20):
        found = False
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    found = True
                    os.kill(int(d), signal.SIGKILL)
                    killed.add(int(d))
            except (OSError, ProcessLookupError):
                pass
        if not found:
            break
        time.sleep(0.01)
    return len(killed)


def scratch_dir(slot: int) -> Path:
    """The scratch folder of slot ``slot``: the worker that holds the slot makes it (worker.py), the
    run that started the worker removes it (cleanup.remove_scratch), a later run removes a killed run's."""
    return TMP / f"{USER_PREFIX}{slot}"
