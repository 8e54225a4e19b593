"""What a grading run leaves behind, and what earlier runs left.

A run removes its own workers' scratch folders when its pool closes (``remove_scratch``, also on
Ctrl-C). A run killed outright cannot: the next run kills and removes what no live run holds
(``clean_leftovers``) and says so in one line. ``start_run`` gives the two lines a run says first.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
from pathlib import Path

from . import slots
from .cgroups import cgroup_backend
from .confine import STAGE
from .probe import summary
from .slots import SLOT_DIR, USER_PREFIX, is_root, kill_user_processes

RUN_PREFIX = "run-"
_RUN_LOCK: int | None = None


def scratch_of_run(run_pid: int) -> list[Path]:
    """The scratch folders that the workers of the run ``run_pid`` made (and that are still there)."""
    found = []
    for d in sorted(slots.TMP.glob(f"{USER_PREFIX}*")):
        try:
            if d.name[len(USER_PREFIX):].isdigit() and (d / slots.RUN_MARK).read_text().strip() == str(run_pid):
                found.append(d)
        except OSError:
            continue
    return found


def remove_scratch(run_pid: int) -> None:
    """Remove the scratch folders of the run ``run_pid`` once its workers are gone (at its end, or on
    Ctrl-C), so that the next run finds nothing to report; a slot another run's worker holds now is
    left alone."""
    for d in scratch_of_run(run_pid):
        with _if_free(int(d.name[len(USER_PREFIX):])) as free:
            if free:
                shutil.rmtree(d, ignore_errors=True)


def _hold_run_lock() -> None:
    """Mark this process as a live grading run (an flock, released when it dies) for the cleanup
    of later runs: while it lives, its scratch folders are not leftovers."""
    global _RUN_LOCK
    if _RUN_LOCK is None:
        SLOT_DIR.mkdir(mode=0o755, exist_ok=True)
        fd = os.open(SLOT_DIR / f"{RUN_PREFIX}{os.getpid()}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _RUN_LOCK = fd


def _grading_commands() -> list[int]:
    """Other processes running ``python -m autograder grade`` (a grader older than the run lock
    takes none: its private folder must not be taken for a leftover)."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                cmd = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"autograder" in cmd and b"grade" in cmd:
                found.append(int(d))
    return found


def _other_live_runs() -> bool:
    """Whether another grading run is live (holds its lock, or is a grading command); removes the
    locks of dead runs."""
    live = bool(_grading_commands())
    for f in SLOT_DIR.glob(f"{RUN_PREFIX}*.lock"):
        if f.name == f"{RUN_PREFIX}{os.getpid()}.lock":
            continue
        try:
            fd = os.open(f, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            f.unlink(missing_ok=True)
        except BlockingIOError:
            live = True
        finally:
            os.close(fd)
    return live


@contextlib.contextmanager
def _if_free(slot: int):
    """Yield True while holding slot ``slot``'s lock if no worker holds it (then nothing of it is live)."""
    fd = os.open(SLOT_DIR / f"slot{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _slot_lock_holders() -> dict[int, int]:
    """pid -> slot of the processes holding a slot lock (from /proc/locks)."""
    inodes = {}
    for f in SLOT_DIR.glob("slot*.lock"):
        with contextlib.suppress(OSError, ValueError):
            inodes[os.stat(f).st_ino] = int(f.name[4:-5])
    holders = {}
    try:
        for line in Path("/proc/locks").read_text().splitlines():
            parts = line.split()  # 1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> 0 EOF
            if len(parts) >= 6 and parts[1] == "FLOCK" and parts[4].isdigit():
                ino = int(parts[5].rsplit(":", 1)[-1])
                if ino in inodes:
                    holders[int(parts[4])] = inodes[ino]
    except (OSError, ValueError):
        pass
    return holders


def _orphaned_grader_processes() -> list[int]:
    """Workers and fork servers whose grading command is gone (re-parented to PID 1): a local
    pool worker holding a slot, or a fork server. Only an older grader (without the parent-death
    signal) or a process caught between its start and its ``die_with_parent`` leaves these."""
    found = []
    holders = _slot_lock_holders()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != 1:
                continue
            cmd = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        # a fork server (under its old name too: an older grader's), or a pool worker holding a slot
        if (any(m in cmd for m in (b"autograder.forkserver", b"autograder.kernel.host")) and b"-m" in cmd) or (int(d) in holders and any(b"spawn_main" in c for c in cmd)):
            found.append(int(d))
    return found


def kill_trees(pids: list[int], *, their_users: bool = False, reap_roots: bool = True) -> int:
    """SIGKILL these processes and every descendant (fork servers, kernels, what they started);
    returns how many processes that was.

    The trees are frozen first (SIGSTOP) and listed again, so that nothing forks a child between
    the listing and the kill. ``their_users``: also every process of the unprivileged users among
    them (a slot's user: a daemon a student left behind has been re-parented away from the tree;
    only while the caller still holds that slot, so no other run can be using its user).
    ``reap_roots=False`` leaves ``pids`` themselves to whoever started them: a pool must reap its
    own workers, or they look alive to it forever and its thread spins at exit.
    """
    import psutil

    procs: dict[int, psutil.Process] = {}
    for _ in range(3):  # freeze, list again: what forked in between is caught the next time round
        for pid in pids:
            try:
                root = psutil.Process(pid)
                family = [root] + root.children(recursive=True)
            except psutil.Error:
                continue
            for p in family:
                if p.pid not in procs:
                    procs[p.pid] = p
                    with contextlib.suppress(psutil.Error):
                        p.suspend()
    if their_users:
        uids = set()
        for p in procs.values():
            with contextlib.suppress(psutil.Error):
                uids.add(p.uids().real)
        for uid in uids - {0, os.getuid()}:
            kill_user_processes(uid)
    for p in procs.values():
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs([p for pid, p in procs.items() if reap_roots or pid not in pids], timeout=5)
    return len(procs)


def _process_start_time() -> float:
    """When this process started, in seconds since the epoch."""
    import psutil

    return psutil.Process().create_time()


def _ctime(path: Path) -> float:
    try:
        return path.stat().st_ctime
    except OSError:
        return float("inf")


def clean_leftovers() -> str:
    """Kill and remove what earlier runs that were killed outright left behind, and say so in one line.

    Only what no live run holds: the slots whose lock is free (their user's processes, the
    processes in their cgroups, their scratch folder), workers and fork servers re-parented to
    PID 1, the kernels' staging folders of dead processes, and the grader's private copies of
    the course (``/tmp/seqgrade-course-*``) when no other run is live. Takes this run's own lock.
    """
    _hold_run_lock()
    # Listed before the locks are checked; a folder made since this process started is this run's
    # own (grade.py may make its private copy before calling here) or a live one's, never a leftover.
    started = _process_start_time()
    course_dirs = sorted(d for d in slots.TMP.glob("seqgrade-course-*") if _ctime(d) < started)
    killed = {"of orphaned workers, fork servers and kernels": kill_trees(_orphaned_grader_processes()) if is_root() else 0,
              "of slot users": 0, "in slot cgroups": 0}
    removed: list[str] = []
    users = {int(p.pw_name[len(USER_PREFIX):]): p.pw_uid for p in pwd.getpwall()
             if p.pw_name.startswith(USER_PREFIX) and p.pw_name[len(USER_PREFIX):].isdigit()}
    groups = cgroup_backend().existing()
    scratch = {int(d.name[len(USER_PREFIX):]): d for d in slots.TMP.glob(f"{USER_PREFIX}*")
               if d.name[len(USER_PREFIX):].isdigit()}
    for n in sorted(set(users) | set(groups) | set(scratch)):
        with _if_free(n) as free:
            if not free:
                continue
            if is_root() and n in users:
                killed["of slot users"] += kill_user_processes(users[n])
            if n in groups and groups[n].pids():
                killed["in slot cgroups"] += len(groups[n].pids())
                groups[n].kill_all()
            if n in scratch and scratch[n].is_dir():
                shutil.rmtree(scratch[n], ignore_errors=True)
                removed.append(str(scratch[n]))
    for d in STAGE.glob("*-*"):
        pid = d.name.split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                d.rmdir()
    if course_dirs and not _other_live_runs():
        for d in course_dirs:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
    total = sum(killed.values())
    if not total and not removed:
        return "cleanup: nothing was left by an earlier run"
    parts = []
    if total:
        parts.append(f"killed {total} process{'es' if total != 1 else ''} ("
                     + ", ".join(f"{n} {k}" for k, n in killed.items() if n) + ")")
    if removed:
        parts.append(f"removed {len(removed)} scratch folder{'s' if len(removed) != 1 else ''} ({', '.join(removed)})")
    return "cleanup: an earlier run was killed before it could clean up: " + "; ".join(parts)


def start_run() -> list[str]:
    """The lines a grading run says first: which confinement steps hold here, and what it cleaned
    up from an earlier run. Called once per run, before its workers start."""
    try:
        cleaned = clean_leftovers()
    except Exception as e:  # noqa: BLE001 - a cleanup that fails must not stop the grading
        cleaned = f"cleanup: could not finish ({type(e).__name__}: {e})"
    return [summary(), cleaned]
