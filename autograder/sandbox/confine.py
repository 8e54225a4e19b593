"""What a freshly forked kernel does to itself before any student code runs (``confine``), and
the two steps every process of the grader takes (``die_with_parent``, ``quiet_fds``).

Python 3.11 has no ``os.unshare`` or ``mount``: libc is called through ctypes, loaded once before
any fork (a dlopen after a fork may wait on a lock another thread held).
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import signal
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

from ..protocol import Confinement
from .slots import is_root

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REC, MS_PRIVATE, MS_REMOUNT, MS_BIND = 16384, 1 << 18, 32, 4096
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
_LIBC = None


def libc():
    """libc through ctypes (Python 3.11 has no os.unshare); loaded once, before any fork."""
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


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
        libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
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


def private_mount_namespace() -> bool:
    """Move the calling process into a mount namespace of its own whose mounts propagate nowhere
    (``unshare(CLONE_NEWNS)``, then ``/`` made private recursively). False where the machine
    refuses: then the caller must mount nothing."""
    lib = libc()
    return lib.unshare(CLONE_NEWNS) == 0 and lib.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0


def _expose_python() -> list[str]:
    """What a kernel imports may live where the slot's user cannot go: Python under pyenv in
    /root (mode 0700), or the virtual environment and ``seqlab`` of a course checked out in a
    private folder (``mktemp -d`` is mode 0700). In the kernel's own mount namespace, cover each
    such ancestor with an empty tmpfs and bind back only those folders: the interpreter's
    prefix, the virtual environment and the helper package. Nothing else there is visible.
    Called only inside the kernel's private mount namespace (``private_mount_namespace``)."""
    import sys

    import seqlab

    wanted = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
              os.path.dirname(os.path.realpath(seqlab.__file__))}
    by_ancestor: dict[str, list[str]] = {}
    for path in sorted(wanted):
        anc = blocked_ancestor(path)
        if anc is not None and not any(path.startswith(q + "/") for q in by_ancestor.get(anc, [])):
            by_ancestor.setdefault(anc, []).append(path)
    lib = libc()
    skipped = []
    for anc, paths in by_ancestor.items():
        staged = []
        for i, path in enumerate(paths):
            stage = STAGE / f"{os.getpid()}-{len(staged)}-{i}"
            stage.mkdir(parents=True, exist_ok=True)
            if lib.mount(path.encode(), str(stage).encode(), None, MS_BIND | MS_REC, None) != 0:
                skipped.append(f"expose {path}")
                continue
            staged.append((path, stage))
        if lib.mount(b"tmpfs", anc.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=755") != 0:
            skipped += [f"expose {path}" for path, _ in staged]
            staged = []
        for path, stage in staged:
            os.makedirs(path, mode=0o755, exist_ok=True)
            if lib.mount(str(stage).encode(), path.encode(), None, MS_BIND | MS_REC, None) != 0:
                skipped.append(f"expose {path}")
        lib.mount(b"none", anc.encode(), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
        for _, stage in staged:
            lib.umount2(str(stage).encode(), MNT_DETACH)
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
    if libc().unshare(CLONE_NEWNET) != 0:
        return False
    try:  # a new namespace's lo is down: ioctl(SIOCSIFFLAGS) with IFF_UP, as `ip link set lo up` does
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifreq = struct.pack("16sh", b"lo", 0) + bytes(22)
            flags = struct.unpack_from("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP) + bytes(22))
    except OSError:
        pass  # isolated all the same, only without a loopback of its own
    return True


def confine(settings: Confinement, *, server_pid: int, cgroup_procs: Iterable[str] = ()) -> list[str]:
    """Confine the calling (freshly forked) process; returns what could not be done.

    ``server_pid``: the fork server, which it dies with; ``cgroup_procs``: the slot's cgroup files
    it joins (cgroups.SlotGroup.procs_files)."""
    skipped = []
    die_with_parent(server_pid)
    os.setsid()
    for f in cgroup_procs:
        try:
            with open(f, "w") as fh:
                fh.write(str(os.getpid()))
        except OSError:
            skipped.append(f"cgroup {f}")
    cwd = os.path.realpath(settings.cwd or "/") + "/"
    hide = [p for p in settings.hide if os.path.isdir(p) and not cwd.startswith(os.path.realpath(p) + "/")]
    expose = settings.uid is not None  # another user: bind back what it imports from folders it cannot enter
    # Every mount below happens in the kernel's own mount namespace, made private first, or not at
    # all: a mount made without one would cover the folder for the whole machine.
    if (hide or expose) and is_root():
        if not private_mount_namespace():
            skipped.append("mount namespace")
        else:
            lib = libc()
            for p in hide:
                if lib.mount(b"tmpfs", p.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
                              b"size=4k,mode=000") != 0:
                    skipped.append(f"hide {p}")
            if expose:
                skipped += _expose_python()
    if is_root() and not isolate_network():
        skipped.append("network namespace")
    for name, value in settings.rlimits.items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError, AttributeError):
            skipped.append(name)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails with EFBIG instead
    if settings.uid is not None and is_root():
        os.setgroups([])
        os.setgid(settings.gid)
        os.setuid(settings.uid)
        die_with_parent(server_pid)  # the change of user cleared it
    return skipped


def quiet_fds(keep: set[int]) -> None:
    """stdin/stdout/stderr to /dev/null; every other descriptor closed but ``keep``."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    prev = 2
    for fd in sorted(keep | {0, 1, 2})[3:] + [65536]:
        if fd > prev + 1:
            os.closerange(prev + 1, fd)
        prev = fd
