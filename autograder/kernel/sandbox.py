"""Where student code runs, what it may touch, and how nothing of it outlives the grader.

Each grading worker owns a *slot*: an unprivileged user ``seqgrade-w<N>`` (created with
``useradd`` when the grader runs as root), a cgroup with memory, pids and cpu caps (v1 or v2,
whichever the machine mounts: ``cgroup_backend``), and a scratch folder owned by that user.
A student's kernel, forked by the fork server, confines itself before running any student
code (``confine``):

1. it dies with the fork server (a parent-death signal), takes its own session and process
   group, and joins the slot's cgroup;
2. a private mount namespace in which the course folder (all of it but the Python
   environment and the helper package), the submissions, the output folder and the
   grader's private tree are covered by empty, unreadable tmpfs mounts;
3. a network namespace of its own with only a loopback: no network, not the grader's loopback;
4. resource limits: processes (binds as the unprivileged user), file size, core dumps, and
   CPU seconds (the backstop when everything above the kernel is gone);
5. the slot's user and group, no supplementary groups, cwd = its scratch copy; then the
   parent-death signal again (a change of user clears it).

Each step that the machine does not allow (not root, no cgroups, no namespaces) is skipped.
Once per run, ``start_run`` says which steps hold here (``summary``, tried for real in a
throwaway child) and kills or removes what a run killed outright left behind
(``clean_leftovers``); the CLI prints both lines.
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import pwd
import resource
import shutil
import signal
import socket
import struct
import subprocess
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

SLOT_DIR = Path("/tmp/seqgrade-slots")
CGROUP_FS = Path("/sys/fs/cgroup")
USER_PREFIX = "seqgrade-w"

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REC, MS_PRIVATE, MS_REMOUNT = 16384, 1 << 18, 32


@dataclass(frozen=True)
class Limits:
    """What one notebook's kernel may use: the one definition of the sandbox's limits (the CLI's
    ``--memory-mb`` and ``--cell-timeout`` override two of them)."""

    mem_bytes: int = 2 << 30          # memory of the kernel and everything it starts
    max_pids: int = 256               # processes and threads of the slot's user
    max_file_bytes: int = 64 << 20    # the largest file it may write
    max_open_files: int = 256
    output_limit: int = 100_000       # characters of output kept per cell and stream
    cell_timeout: float = 120.0       # seconds one cell may run (SIGINT, then SIGKILL)
    total_timeout: float = 1800.0     # seconds the whole notebook may run, re-runs included

    @classmethod
    def from_settings(cls, settings: dict) -> "Limits":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in settings.items() if k in names and v is not None})

    def as_dict(self) -> dict:
        return asdict(self)

    def rlimits(self, own_user: bool) -> dict:
        """setrlimit values for a kernel. RLIMIT_NPROC counts every process of the user, so it binds
        only when the kernel has a user of its own; RLIMIT_CPU is the backstop should everything above
        the kernel be gone: the notebook's whole time budget in CPU seconds, and no more."""
        limits = {"RLIMIT_CORE": 0, "RLIMIT_FSIZE": self.max_file_bytes,
                  "RLIMIT_CPU": int(self.total_timeout + self.cell_timeout)}
        if own_user:
            limits.update(RLIMIT_NPROC=self.max_pids, RLIMIT_NOFILE=self.max_open_files)
        return limits


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


# ---------------------------------------------------------------- cgroups: one backend per machine
#
# A slot's group caps the memory (swap included), the number of processes and the CPU share of
# everything its kernels start, and lists those processes so that the fork server can kill them
# all. The hierarchy differs between machines: cgroup v1 (one tree per controller, under
# /sys/fs/cgroup/<controller>), cgroup v2 (the unified tree, /sys/fs/cgroup on most current
# servers), or nothing usable (not root, a container without them). ``cgroup_backend()`` picks
# one per process; each backend hands out slot groups with the same small interface:
# ``procs_files`` (where a kernel writes its pid), ``memory`` (the cap is enforced), ``pids()``,
# ``oom_kills()`` and ``kill_all()``.

CONTROLLERS = ("memory", "pids", "cpu")


def _write(path: Path, value) -> None:
    with open(path, "w") as f:
        f.write(str(value))


def _read_pids(files) -> list[int]:
    out = set()
    for f in files:
        try:
            out.update(int(p) for p in Path(f).read_text().split())
        except (OSError, ValueError):
            pass
    return sorted(out)


def _kill_listed(slot_group) -> None:
    """SIGKILL every process ``slot_group.pids()`` lists until none is left (fork bombs race us)."""
    for _ in range(50):
        left = [p for p in slot_group.pids() if p != os.getpid()]
        if not left:
            return
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


class SlotGroup:
    """One slot's cgroup(s). ``dirs``: controller name -> the slot's folder in that controller's
    tree (v1: one per controller; v2: the same leaf for all, or ``{"": leaf}`` when it has none)."""

    def __init__(self, version: int, dirs: dict[str, Path]):
        self.version, self.dirs = version, dirs
        self.procs_files = sorted({str(d / "cgroup.procs") for d in dirs.values()})

    @property
    def memory(self) -> bool:
        """Whether the memory cap is enforced (else the fork server watches the kernel's RSS itself)."""
        return "memory" in self.dirs

    def oom_kills(self) -> int:
        """How many times the memory cap killed a process of this slot (a counter; compare before/after)."""
        d = self.dirs.get("memory")
        if d is None:
            return 0
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            for line in (d / name).read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
            return int((d / "memory.failcnt").read_text()) if self.version == 1 else 0
        except (OSError, ValueError):
            return 0

    def pids(self) -> list[int]:
        return _read_pids(self.procs_files)

    def kill_all(self) -> None:
        """Kill every process left in the slot's group (fork bombs, daemons, stray threads)."""
        if self.version == 2:
            for d in set(self.dirs.values()):
                if (d / "cgroup.kill").exists():  # Linux 5.14+: the kernel kills them all at once
                    try:
                        _write(d / "cgroup.kill", 1)
                    except OSError:
                        pass
        _kill_listed(self)


class NoCgroups:
    """Nothing to use: the kernels still run under rlimits and the fork server's own RSS watchdog."""

    version = 0

    def __init__(self, why: str):
        self.why = why

    def setup(self) -> set[str]:
        return set()

    def slot(self, n: int, mem_bytes: int, max_pids: int) -> SlotGroup | None:
        return None

    def existing(self) -> dict[int, SlotGroup]:
        return {}

    def describe(self) -> str:
        return f"cgroups no ({self.why})"


class CgroupV1:
    """One tree per controller: <root>/<controller>/seqgrade/w<N>."""

    version = 1

    def __init__(self, root: Path):
        self.root = root
        self.controllers: set[str] | None = None

    def setup(self) -> set[str]:
        """Create ``seqgrade`` in each controller's tree; the controllers that took it (once)."""
        if self.controllers is None:
            self.controllers = set()
            for c in CONTROLLERS:
                if c == "cpu" and os.environ.get("SEQGRADE_NO_CPU_CGROUP"):
                    continue
                try:
                    if (self.root / c).is_dir():
                        (self.root / c / "seqgrade").mkdir(exist_ok=True)
                        self.controllers.add(c)
                except OSError:
                    pass
        return self.controllers

    def slot(self, n: int, mem_bytes: int, max_pids: int) -> SlotGroup | None:
        dirs = {}
        for c in sorted(self.setup()):
            d = self.root / c / "seqgrade" / f"w{n}"
            try:
                d.mkdir(exist_ok=True)
                if c == "memory":
                    _write(d / "memory.limit_in_bytes", mem_bytes)
                    try:  # memory + swap: without it a hog just moves to swap
                        _write(d / "memory.memsw.limit_in_bytes", mem_bytes)
                    except OSError:
                        pass
                elif c == "pids":
                    _write(d / "pids.max", max_pids)
                # cpu: the default shares, equal for every slot: a fork bomb slows its own slot only
            except OSError:
                continue
            dirs[c] = d
        return SlotGroup(1, dirs) if dirs else None

    def existing(self) -> dict[int, SlotGroup]:
        found: dict[int, dict[str, Path]] = {}
        for c in CONTROLLERS:
            for d in _slot_dirs(self.root / c / "seqgrade"):
                found.setdefault(int(d.name[1:]), {})[c] = d
        return {n: SlotGroup(1, dirs) for n, dirs in found.items()}

    def describe(self) -> str:
        got = self.setup()
        return f"cgroups v1 ({', '.join(c for c in CONTROLLERS if c in got) or 'no controller could be used'})"


class CgroupV2:
    """The unified tree at ``root``: <root>/seqgrade/w<N>, one leaf per slot.

    A v2 group cannot both hold processes and give controllers to children, so ``seqgrade``
    holds none: it enables memory, pids and cpu for its leaves in its ``cgroup.subtree_control``,
    after ``root`` has enabled them for it. Where the root cannot (a container whose own processes
    sit in it, a hybrid machine's empty ``unified`` tree), the leaves still list and kill a slot's
    processes, without caps: ``describe()`` says so.
    """

    version = 2

    def __init__(self, root: Path):
        self.root = root
        self.controllers: set[str] | None = None

    @staticmethod
    def _enable(group: Path, wanted: list[str]) -> set[str]:
        """Enable ``wanted`` for the children of ``group``; those that took."""
        if not wanted:
            return set()
        try:
            _write(group / "cgroup.subtree_control", " ".join("+" + c for c in wanted))
            return set(wanted)
        except OSError:  # one of them is refused: the others may still go, one at a time
            took = set()
            for c in wanted:
                try:
                    _write(group / "cgroup.subtree_control", "+" + c)
                    took.add(c)
                except OSError:
                    pass
            return took

    def setup(self) -> set[str]:
        if self.controllers is None:
            self.controllers = set()
            try:
                available = set((self.root / "cgroup.controllers").read_text().split())
                parent = self.root / "seqgrade"
                parent.mkdir(exist_ok=True)
            except OSError:
                return self.controllers
            wanted = [c for c in CONTROLLERS if c in available
                      and not (c == "cpu" and os.environ.get("SEQGRADE_NO_CPU_CGROUP"))]
            at_root = self._enable(self.root, wanted)
            self.controllers = self._enable(parent, [c for c in wanted if c in at_root])
        return self.controllers

    def slot(self, n: int, mem_bytes: int, max_pids: int) -> SlotGroup | None:
        got = self.setup()
        leaf = self.root / "seqgrade" / f"w{n}"
        try:
            leaf.mkdir(exist_ok=True)
        except OSError:
            return None
        dirs = {}
        for c, settings in (("memory", {"memory.max": mem_bytes, "memory.swap.max": 0}),
                            ("pids", {"pids.max": max_pids}), ("cpu", {"cpu.weight": 100})):
            if c not in got:
                continue
            try:
                for name, value in settings.items():
                    try:
                        _write(leaf / name, value)
                    except OSError:
                        if name != "memory.swap.max":  # absent without swap accounting: memory.max still holds
                            raise
            except OSError:
                continue
            dirs[c] = leaf
        return SlotGroup(2, dirs or {"": leaf})

    def existing(self) -> dict[int, SlotGroup]:
        return {int(d.name[1:]): SlotGroup(2, {"": d}) for d in _slot_dirs(self.root / "seqgrade")}

    def describe(self) -> str:
        got = self.setup()
        if not got:
            return f"cgroups v2 at {self.root} (no controllers: no memory, pids or cpu cap)"
        return f"cgroups v2 at {self.root} ({', '.join(c for c in CONTROLLERS if c in got)})"


def _slot_dirs(parent: Path) -> list[Path]:
    try:
        return [d for d in parent.iterdir() if d.is_dir() and d.name[:1] == "w" and d.name[1:].isdigit()]
    except OSError:
        return []


def choose_cgroups(fs: Path = CGROUP_FS, *, root_user: bool | None = None):
    """The backend for a machine whose cgroup file systems are mounted at ``fs``.

    ``SEQGRADE_CGROUP_ROOT`` names a v2 tree to use instead (a delegated subtree). A pure v2
    machine has ``cgroup.controllers`` at ``fs``; a v1 or hybrid one has per-controller trees
    (used for the caps; the hybrid's ``unified`` tree has no controllers).
    """
    if not (is_root() if root_user is None else root_user):
        return NoCgroups("not root")
    if os.environ.get("SEQGRADE_CGROUP_ROOT"):
        return CgroupV2(Path(os.environ["SEQGRADE_CGROUP_ROOT"]))
    if (fs / "cgroup.controllers").exists():
        return CgroupV2(fs)
    if any((fs / c).is_dir() for c in CONTROLLERS):
        return CgroupV1(fs)
    if (fs / "unified" / "cgroup.controllers").exists():
        return CgroupV2(fs / "unified")
    return NoCgroups(f"none mounted at {fs}")


_BACKEND = None


def cgroup_backend():
    """This machine's backend, chosen once per process."""
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = choose_cgroups()
    return _BACKEND


def Cgroups(slot: int, mem_bytes: int, max_pids: int) -> SlotGroup | None:
    """The slot's group with its caps set, or None where the machine has none to give."""
    return cgroup_backend().slot(slot, mem_bytes, max_pids)


def kill_user_processes(uid: int) -> int:
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


_LIBC = None


def _libc():
    """libc through ctypes (Python 3.11 has no os.unshare); loaded once, before any fork."""
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel SIGKILL this process when the thread that started it dies.

    Called first thing in every process the grader starts (worker, fork server, kernel), so that
    a grading command killed outright (``kill -9``, the OOM killer, a dropped SSH session) takes
    them all with it. The setting is lost on a change of user, so ``confine`` sets it again after
    dropping root. The parent may have died before this call: then nobody would signal us, so
    compare ``getppid()`` with the pid that started us and go now.
    """
    if parent_pid is None:
        return
    try:
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the pipes and the next run's cleanup remain
        return
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)


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


def isolate_network() -> bool:
    """Move the calling process into a network namespace of its own, whose only interface is a
    loopback that is up: student code can serve and connect on 127.0.0.1 among its own threads
    and processes, and reaches nothing else (not the grader's loopback, not the network).
    Needs root (CAP_SYS_ADMIN); False where the machine refuses."""
    if _libc().unshare(CLONE_NEWNET) != 0:
        return False
    try:  # a new namespace's lo is down: ioctl(SIOCSIFFLAGS) with IFF_UP, as `ip link set lo up` does
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifreq = struct.pack("16sh", b"lo", 0) + bytes(22)
            flags = struct.unpack_from("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP) + bytes(22))
    except OSError:
        pass  # isolated all the same, only without a loopback of its own
    return True


def confine(cfg: dict) -> list[str]:
    """Confine the calling (freshly forked) process; returns what could not be done.

    ``cfg``: the request's sandbox settings (``parent_pid``, ``cgroup_procs``, ``hide``, ``cwd``,
    ``network_namespace``, ``rlimits``, ``uid``, ``gid``)."""
    skipped = []
    die_with_parent(cfg.get("parent_pid"))
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
    if is_root() and cfg.get("network_namespace", True) and not isolate_network():
        skipped.append("network namespace")
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
        die_with_parent(cfg.get("parent_pid"))  # the change of user cleared it
    return skipped


# ---------------------------------------------------------------- what holds here, said once per run

def _probe_child() -> dict:
    """In a throwaway child: the namespaces and limits ``confine`` would set up."""
    libc = _libc()
    got = {"mount": libc.unshare(CLONE_NEWNS) == 0 and libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0}
    got["network"] = "no"
    if isolate_network():
        got["network"] = "yes"
        try:  # its own loopback answers (a correct solution may serve on it)
            with socket.socket() as srv, socket.socket() as cli:
                srv.bind(("127.0.0.1", 0))
                srv.listen()
                cli.settimeout(2)
                cli.connect(srv.getsockname())
        except OSError:
            got["network"] = "yes (no loopback)"
    try:
        for name in ("RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NPROC"):
            limit = getattr(resource, name)
            resource.setrlimit(limit, resource.getrlimit(limit))
            got["rlimits"] = True
    except (ValueError, OSError):
        got["rlimits"] = False
    return got


def _probe() -> dict:
    _libc()  # loaded here, not in the child: a dlopen after fork may wait on a lock another thread held
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.write(w, json.dumps(_probe_child()).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    try:
        return json.loads(data)
    except ValueError:
        return {}


def _has_users() -> bool:
    if not is_root():
        return False
    return shutil.which("useradd") is not None or any(p.pw_name.startswith(USER_PREFIX) for p in pwd.getpwall())


def summary() -> str:
    """One line: which of the confinement steps hold on this machine, tried for real in a child.

    e.g. ``sandbox: users yes, cgroups v1 (memory, pids, cpu), mount namespace yes, network
    namespace yes, rlimits yes, dies with the grader yes; tests run in a judge apart (another
    user)``. Without root, only the rlimits, the parent-death signal and the judge remain (the
    judge then shares the kernel's user, but cannot be traced or read by it: PR_SET_DUMPABLE 0)."""
    yes = lambda b: "yes" if b else "no"  # noqa: E731
    if is_root():
        got = _probe()
        mount, network = yes(got.get("mount")), got.get("network", "no")
    else:
        got = {"rlimits": True}
        mount = network = "no (not root)"
    try:
        pdeath = hasattr(_libc(), "prctl")
    except OSError:
        pdeath = False
    apart = "another user" if is_root() and _has_users() else "the same user, not traceable"
    return (f"sandbox: users {yes(_has_users()) if is_root() else 'no (not root)'}, {cgroup_backend().describe()}, "
            f"mount namespace {mount}, network namespace {network}, rlimits {yes(got.get('rlimits'))}, "
            f"dies with the grader {yes(pdeath)}; tests run in a judge apart ({apart})")


# ---------------------------------------------------------------- what an earlier run left behind

RUN_PREFIX = "run-"
#: Where the slots' scratch folders (seqgrade-w<N>, worker.py) and the runs' private copies of the
#: course (seqgrade-course-*, grade.py) are made.
TMP = Path("/tmp")
_RUN_LOCK: int | None = None


def scratch_dir(slot: int) -> Path:
    """The scratch folder of slot ``slot``: the worker that holds the slot makes it (worker.py), the
    run that started the worker removes it (``remove_scratch``), a later run removes a killed run's."""
    return TMP / f"{USER_PREFIX}{slot}"


#: In a scratch folder: the pid of the grading run whose worker made it.
RUN_MARK = ".run"


def scratch_of_run(run_pid: int) -> list[Path]:
    """The scratch folders that the workers of the run ``run_pid`` made (and that are still there)."""
    found = []
    for d in sorted(TMP.glob(f"{USER_PREFIX}*")):
        try:
            if d.name[len(USER_PREFIX):].isdigit() and (d / RUN_MARK).read_text().strip() == str(run_pid):
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
        if (b"autograder.kernel.host" in cmd and b"-m" in cmd) or (int(d) in holders and any(b"spawn_main" in c for c in cmd)):
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
    course_dirs = sorted(d for d in TMP.glob("seqgrade-course-*") if _ctime(d) < started)
    killed = {"of orphaned workers, fork servers and kernels": kill_trees(_orphaned_grader_processes()) if is_root() else 0,
              "of slot users": 0, "in slot cgroups": 0}
    removed: list[str] = []
    users = {int(p.pw_name[len(USER_PREFIX):]): p.pw_uid for p in pwd.getpwall()
             if p.pw_name.startswith(USER_PREFIX) and p.pw_name[len(USER_PREFIX):].isdigit()}
    groups = cgroup_backend().existing()
    scratch = {int(d.name[len(USER_PREFIX):]): d for d in TMP.glob(f"{USER_PREFIX}*")
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
