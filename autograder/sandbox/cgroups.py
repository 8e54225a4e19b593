"""cgroups: one backend per machine.

A slot's group caps the memory (swap included), the number of processes and the CPU share of
everything its kernels start, and lists those processes so that the fork server can kill them
all. The hierarchy differs between machines: cgroup v1 (one tree per controller, under
/sys/fs/cgroup/<controller>), cgroup v2 (the unified tree, /sys/fs/cgroup on most current
servers), or nothing usable (not root, a container without them). ``cgroup_backend()`` picks
one per process; each backend hands out slot groups (``slot_group``) with the same small
interface: ``procs_files`` (where a kernel writes its pid), ``memory`` (the cap is enforced),
``pids()``, ``oom_kills()`` and ``kill_all()``.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ..limits import Limits
from .slots import is_root

CGROUP_FS = Path("/sys/fs/cgroup")
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


def slot_group(slot: int, limits: Limits) -> SlotGroup | None:
    """The slot's group with ``limits``' memory and process caps set, or None where the machine has none to give."""
    return cgroup_backend().slot(slot, limits.mem_bytes, limits.max_pids)
