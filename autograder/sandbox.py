"""Where student code runs and what it may touch.

Each grading worker owns a *slot*: an unprivileged user ``seqgrade-w<N>`` (created with
``useradd`` when the grader runs as root), a memory and a pids cgroup (cgroup v1 or v2 when
writable), and a scratch folder owned by that user. A student's kernel, forked by the fork
server, confines itself before running any student code (``confine``):

1. its own session and process group, and the slot's cgroups (memory cap, process cap);
2. a private mount namespace in which the course folder (all of it but the Python
   environment and the helper package), the submissions, the output folder and the
   grader's private tree are covered by empty, unreadable tmpfs mounts;
3. resource limits: processes (binds as the unprivileged user), file size, core dumps;
4. the slot's user and group, no supplementary groups, cwd = its scratch copy.

Each step that the machine does not allow (not root, no cgroups, no namespaces) is skipped,
and ``capabilities()`` says which ones hold, so the CLI can say so.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import pwd
import resource
import signal
import subprocess
import time
from pathlib import Path

SLOT_DIR = Path("/tmp/seqgrade-slots")
CGROUP_V1 = Path("/sys/fs/cgroup")
CGROUP_V2 = Path("/sys/fs/cgroup/unified")
USER_PREFIX = "seqgrade-w"

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REC, MS_PRIVATE, MS_REMOUNT = 16384, 1 << 18, 32


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


class Cgroups:
    """The slot's memory and pids cgroups; empty when the machine does not let us create them."""

    def __init__(self, slot: int, mem_bytes: int, max_pids: int):
        self.procs_files: list[str] = []
        self.oom_file: str | None = None
        self.mem_bytes = mem_bytes
        if not is_root():
            return
        name = f"seqgrade/w{slot}"
        try:
            if (CGROUP_V1 / "memory" / "memory.limit_in_bytes").exists() or (CGROUP_V1 / "memory").is_dir():
                mem = CGROUP_V1 / "memory" / name
                mem.mkdir(parents=True, exist_ok=True)
                (mem / "memory.limit_in_bytes").write_text(str(mem_bytes))
                try:
                    (mem / "memory.memsw.limit_in_bytes").write_text(str(mem_bytes))
                except OSError:
                    pass
                self.procs_files.append(str(mem / "cgroup.procs"))
                self.oom_file = str(mem / "memory.oom_control")
                self.failcnt_file = str(mem / "memory.failcnt")
            if (CGROUP_V1 / "cpu" / "cpu.shares").exists() and not os.environ.get("SEQGRADE_NO_CPU_CGROUP"):
                cpu = CGROUP_V1 / "cpu" / name  # equal shares: a fork bomb slows its own slot, not the others
                cpu.mkdir(parents=True, exist_ok=True)
                self.procs_files.append(str(cpu / "cgroup.procs"))
            if (CGROUP_V1 / "pids").is_dir():
                pids = CGROUP_V1 / "pids" / name
                pids.mkdir(parents=True, exist_ok=True)
                (pids / "pids.max").write_text(str(max_pids))
                self.procs_files.append(str(pids / "cgroup.procs"))
        except OSError:
            self.procs_files, self.oom_file = [], None

    @property
    def memory(self) -> bool:
        return self.oom_file is not None

    def oom_kills(self) -> int:
        if not self.oom_file:
            return 0
        try:
            for line in Path(self.oom_file).read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
            return int(Path(self.failcnt_file).read_text())
        except (OSError, ValueError):
            return 0

    def pids(self) -> list[int]:
        out = set()
        for f in self.procs_files:
            try:
                out.update(int(p) for p in Path(f).read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(out)

    def kill_all(self) -> None:
        """Kill every process left in the slot's cgroups (fork bombs, daemons, stray threads)."""
        for _ in range(50):
            left = [p for p in self.pids() if p != os.getpid()]
            if not left:
                return
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)


def kill_user_processes(uid: int) -> None:
    """Kill every process of ``uid`` (the slot's user runs nothing else)."""
    if uid is None or uid == 0:
        return
    for _ in range(20):
        found = False
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    found = True
                    os.kill(int(d), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        if not found:
            return
        time.sleep(0.01)


def _libc():
    return ctypes.CDLL(None, use_errno=True)


STAGE = Path("/tmp/seqgrade-stage")


def blocked_ancestor(path: str) -> str | None:
    """The top-most ancestor of ``path`` that others cannot traverse (e.g. /root, mode 0700), if any."""
    parts = Path(path).resolve().parts
    for k in range(2, len(parts)):
        anc = os.path.join(*parts[:k])
        try:
            if not os.stat(anc).st_mode & 0o001:
                return anc
        except OSError:
            return None
    return None


def _expose_python(hide: list[str]) -> list[str]:
    """What a kernel imports may live where the slot's user cannot go: Python under pyenv in
    /root (mode 0700), or the virtual environment and ``seqlab`` of a course checked out in a
    private folder (``mktemp -d`` is mode 0700). In the kernel's own mount namespace, cover each
    such ancestor with an empty tmpfs and bind back only those folders: the interpreter's
    prefix, the virtual environment and the helper package. Nothing else there is visible."""
    import sys

    import seqlab

    wanted = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
              os.path.dirname(os.path.realpath(seqlab.__file__))}
    by_ancestor: dict[str, list[str]] = {}
    for path in sorted(wanted):
        anc = blocked_ancestor(path)
        if anc is not None and not any(path.startswith(q + "/") for q in by_ancestor.get(anc, [])):
            by_ancestor.setdefault(anc, []).append(path)
    libc = _libc()
    skipped = []
    for anc, paths in by_ancestor.items():
        staged = []
        for i, path in enumerate(paths):
            stage = STAGE / f"{os.getpid()}-{len(staged)}-{i}"
            stage.mkdir(parents=True, exist_ok=True)
            if libc.mount(path.encode(), str(stage).encode(), None, 4096 | MS_REC, None) != 0:  # MS_BIND
                skipped.append(f"expose {path}")
                continue
            staged.append((path, stage))
        if libc.mount(b"tmpfs", anc.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=755") != 0:
            skipped += [f"expose {path}" for path, _ in staged]
            staged = []
        for path, stage in staged:
            os.makedirs(path, mode=0o755, exist_ok=True)
            if libc.mount(str(stage).encode(), path.encode(), None, 4096 | MS_REC, None) != 0:
                skipped.append(f"expose {path}")
        libc.mount(b"none", anc.encode(), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
        for _, stage in staged:
            libc.umount2(str(stage).encode(), 2)  # MNT_DETACH
            try:
                stage.rmdir()
            except OSError:
                pass
    return skipped


def confine(cfg: dict) -> list[str]:
    """Confine the calling (freshly forked) process; returns what could not be done."""
    skipped = []
    os.setsid()
    for f in cfg.get("cgroup_procs") or []:
        try:
            with open(f, "w") as fh:
                fh.write(str(os.getpid()))
        except OSError:
            skipped.append(f"cgroup {f}")
    cwd = os.path.realpath(cfg.get("cwd") or "/") + "/"
    hide = [p for p in cfg.get("hide") or [] if os.path.isdir(p) and not cwd.startswith(os.path.realpath(p) + "/")]
    if hide and is_root():
        libc = _libc()
        if libc.unshare(CLONE_NEWNS) != 0 or libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            skipped.append("mount namespace")
        else:
            for p in hide:
                if libc.mount(b"tmpfs", p.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
                              b"size=4k,mode=000") != 0:
                    skipped.append(f"hide {p}")
    if is_root() and cfg.get("uid") is not None and "mount namespace" not in skipped:
        skipped += _expose_python(hide)
    limits = cfg.get("rlimits") or {}
    for name, value in limits.items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            skipped.append(name)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails with EFBIG instead
    uid, gid = cfg.get("uid"), cfg.get("gid")
    if uid is not None and is_root():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return skipped
