"""The grader's confinement and clean exit (sandbox/, forkserver/, worker.py, runner.py).

What student code cannot reach while graded (the network: its own loopback only), the caps of
cgroup v1 and v2 (v2 against a scratch folder laid out as the kernel lays out /sys/fs/cgroup),
the one line a run starts with, and that nothing outlives a grading command killed outright:
workers, fork servers, kernels (also one stuck in ``while True: pass``) and the multiprocessing
tracker all go within seconds, and the next run grades everything.
"""
from __future__ import annotations

import csv
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder import protocol
from autograder.limits import Limits
from autograder.protocol import Cell, CellKind, Confinement, NotebookReply, NotebookRequest, Side
from autograder.sandbox import cgroups, cleanup, probe, slots
from tests.harness import ROOT
from tests.test_grading_faults import EL, POINTS, A, _append, _in_body, _nb
from tests.test_grading_incremental import COUNTS, _command, _survivors

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces, cgroups and users need root")
PY = sys.executable


def _python(code: str, **kw) -> subprocess.Popen:
    """A Python child that imports this checkout's autograder."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([PY, "-c", textwrap.dedent(code)], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, **kw)


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


class _Listener:
    """A TCP server on 127.0.0.1 in the grader's own network namespace that counts who reached it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------- cgroups: which backend, v2 on a scratch tree

def _v2_tree(tmp_path: Path, controllers: str = "cpuset cpu io memory hugetlb pids rdma misc") -> Path:
    """What the kernel shows at a cgroup2 mount: the controllers it offers, none enabled yet."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "cgroup.controllers").write_text(controllers + "\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    (tmp_path / "cgroup.procs").write_text("1\n")
    return tmp_path


def test_backend_follows_the_mounted_hierarchy(tmp_path, monkeypatch):
    monkeypatch.delenv("SEQGRADE_CGROUP_ROOT", raising=False)
    pure_v2 = _v2_tree(tmp_path / "v2")
    assert isinstance(cgroups.choose_cgroups(pure_v2, root_user=True), cgroups.CgroupV2)

    hybrid = tmp_path / "hybrid"  # this machine's layout: v1 controllers, an empty unified tree
    for c in ("memory", "pids", "cpu"):
        (hybrid / c).mkdir(parents=True)
    _v2_tree(hybrid / "unified", controllers="")
    assert isinstance(cgroups.choose_cgroups(hybrid, root_user=True), cgroups.CgroupV1)

    only_unified = tmp_path / "only-unified"
    _v2_tree(only_unified / "unified", controllers="")
    chosen = cgroups.choose_cgroups(only_unified, root_user=True)
    assert isinstance(chosen, cgroups.CgroupV2) and chosen.root == only_unified / "unified"

    (tmp_path / "empty").mkdir()
    assert isinstance(cgroups.choose_cgroups(tmp_path / "empty", root_user=True), cgroups.NoCgroups)
    assert cgroups.choose_cgroups(pure_v2, root_user=False).describe() == "cgroups no (not root)"
    monkeypatch.setenv("SEQGRADE_CGROUP_ROOT", str(tmp_path / "delegated"))
    assert cgroups.choose_cgroups(hybrid, root_user=True).root == tmp_path / "delegated"


def test_v2_slot_gets_a_leaf_with_memory_pids_and_cpu_caps(tmp_path):
    root = _v2_tree(tmp_path)
    backend = cgroups.CgroupV2(root)
    group = backend.slot(3, 512 << 20, 64)

    # controllers are enabled down to the parent, which holds no process; the leaf holds the caps
    assert set((root / "cgroup.subtree_control").read_text().split()) == {"+memory", "+pids", "+cpu"}
    assert set((root / "seqgrade" / "cgroup.subtree_control").read_text().split()) == {"+memory", "+pids", "+cpu"}
    leaf = root / "seqgrade" / "w3"
    assert (leaf / "memory.max").read_text() == str(512 * 1024 * 1024)
    assert (leaf / "memory.swap.max").read_text() == "0"
    assert (leaf / "pids.max").read_text() == "64"
    assert (leaf / "cpu.weight").read_text() == "100"
    assert group.procs_files == [str(leaf / "cgroup.procs")] and group.memory
    assert backend.describe() == f"cgroups v2 at {root} (memory, pids, cpu)"

    (leaf / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n")
    assert group.oom_kills() == 2
    assert set(backend.existing()) == {3}


def test_v2_kill_all_uses_cgroup_kill_and_kills_what_the_leaf_lists(tmp_path):
    group = cgroups.CgroupV2(_v2_tree(tmp_path)).slot(0, 1 << 30, 64)
    leaf = Path(group.procs_files[0]).parent
    (leaf / "cgroup.kill").write_text("")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        Path(group.procs_files[0]).write_text(f"{sleeper.pid}\n")
        assert group.pids() == [sleeper.pid]
        group.kill_all()
        assert sleeper.wait(timeout=5) == -signal.SIGKILL
        assert (leaf / "cgroup.kill").read_text() == "1"
    finally:
        sleeper.kill()


def test_v2_without_controllers_still_lists_and_kills_but_says_no_caps(tmp_path):
    root = _v2_tree(tmp_path)
    (root / "cgroup.subtree_control").unlink()
    (root / "cgroup.subtree_control").mkdir()  # writing to it fails, as EBUSY does in a container's root
    backend = cgroups.CgroupV2(root)
    group = backend.slot(1, 1 << 30, 64)
    leaf = root / "seqgrade" / "w1"
    assert group.procs_files == [str(leaf / "cgroup.procs")] and not group.memory
    assert not (leaf / "memory.max").exists() and not (leaf / "pids.max").exists()
    assert "no controllers" in backend.describe()


@root_only
def test_v1_memory_cap_kills_a_hog_here():
    backend = cgroups.cgroup_backend()
    if not isinstance(backend, cgroups.CgroupV1) or "memory" not in backend.setup():
        pytest.skip(f"this machine has {backend.describe()}")
    slot, lock_fd = slots.acquire_slot()  # a slot no run is using, held while we test it
    try:
        group = cgroups.slot_group(slot, Limits(mem_bytes=64 << 20, max_pids=64))
        before = group.oom_kills()
        hog = _python(f"""
            import time
            for f in {group.procs_files!r}:
                open(f, "w").write("%d" % __import__("os").getpid())
            print("in", flush=True)
            time.sleep(0.5)
            hog = bytearray(256 << 20)
            print("survived", flush=True)
        """)
        assert hog.stdout.readline().strip() == "in"
        assert hog.pid in group.pids()
        assert hog.wait(timeout=30) == -signal.SIGKILL
        assert "survived" not in hog.stdout.read()
        assert group.oom_kills() > before
        assert not group.pids()
    finally:
        os.close(lock_fd)


# ---------------------------------------------------------------- the network namespace

@root_only
def test_network_namespace_sees_its_own_loopback_only():
    outside = _Listener()
    try:
        child = _python(f"""
            import socket, threading
            from autograder.sandbox import confine
            print("isolated", confine.isolate_network())
            try:
                socket.create_connection(("127.0.0.1", {outside.port}), timeout=2).close()
                print("reached the grader's loopback")
            except OSError as e:
                print("outside unreachable", type(e).__name__)
            srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
            threading.Thread(target=lambda: (lambda c: c.sendall(c.recv(4)))(srv.accept()[0]), daemon=True).start()
            c = socket.create_connection(srv.getsockname(), timeout=2); c.sendall(b"ping")
            print("own loopback", c.recv(4).decode())
        """)
        out = child.communicate(timeout=60)[0].splitlines()
    finally:
        outside.close()
    assert out[0] == "isolated True"
    assert out[1].startswith("outside unreachable"), out
    assert out[2] == "own loopback ping"
    assert outside.accepted == 0


# ---------------------------------------------------------------- parent death, the pipe, the CPU backstop

def test_a_process_dies_with_its_parent():
    middle = _python("""
        import os, time
        from autograder.sandbox import confine
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            confine.die_with_parent(parent)
            time.sleep(60)
            os._exit(0)
        print(pid, flush=True)
        time.sleep(60)
    """)
    grandchild = int(middle.stdout.readline())
    assert psutil.pid_exists(grandchild)
    middle.kill()
    middle.wait()
    assert _gone(grandchild, within=3)


def test_a_process_whose_parent_is_already_gone_goes_at_once():
    late = _python("""
        from autograder.sandbox import confine
        confine.die_with_parent(1)  # not our parent: it "died" before we could ask to die with it
        print("still here")
    """)
    assert late.wait(timeout=30) == -signal.SIGKILL and late.stdout.read() == ""


def _request(tmp_path: Path, source: str, rlimits: dict[str, int] | None = None) -> dict:
    return NotebookRequest((Cell(source, Side.KERNEL, CellKind.STUDENT),), Limits(cell_timeout=600, total_timeout=600),
                           Confinement(str(tmp_path), {"PATH": "/usr/bin:/bin"}, rlimits=rlimits or {})).to_json()


def _kernels_of(host: psutil.Process) -> list[psutil.Process]:
    return [p for p in host.children() if p.status() != psutil.STATUS_ZOMBIE]


def test_fork_server_cpu_backstop_and_stop_when_the_worker_goes(tmp_path):
    """A kernel past its CPU seconds dies even with no timer above it; a fork server whose worker
    closed the request pipe kills the kernel it runs, at once, and exits."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SEQGRADE_PARENT", None)
    host = subprocess.Popen([PY, "-m", "autograder.forkserver"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        assert protocol.read(host.stdout) == protocol.READY
        t0 = time.monotonic()
        protocol.write(host.stdin, _request(tmp_path, "while True:\n    pass", rlimits={"RLIMIT_CPU": 2}))
        reply = NotebookReply.from_json(protocol.read(host.stdout))
        assert reply.cells[0].error.ename == "KernelDied", reply
        assert time.monotonic() - t0 < 60

        protocol.write(host.stdin, _request(tmp_path, "while True:\n    pass"))
        proc = psutil.Process(host.pid)
        deadline = time.monotonic() + 60
        while not (kernels := _kernels_of(proc)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert kernels, "no kernel started"
        time.sleep(1.0)
        kernels = _kernels_of(proc)  # the kernel and its judge
        assert kernels and all(k.is_running() for k in kernels)
        host.stdin.close()  # the worker is gone
        assert host.wait(timeout=10) == 0
        assert all(_gone(k.pid, within=3) for k in kernels)
    finally:
        host.kill()


# ---------------------------------------------------------------- what a run says first, what it cleans

@root_only
def test_summary_says_what_holds_here():
    line = probe.summary()
    assert line.startswith("sandbox: users yes, " + cgroups.cgroup_backend().describe() + ", mount namespace "), line
    if shutil.which("unshare"):  # util-linux's own answer to "may this machine make a network namespace?"
        allowed = subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0
        assert (", network namespace yes," in line) == allowed, line
    assert line.endswith(", rlimits yes, dies with the grader yes; tests run in a judge apart (another user)"), line


@root_only
def test_cleanup_kills_a_free_slots_leftovers_and_says_so():
    slot, lock_fd = slots.acquire_slot()
    ids = slots.ensure_user(slot)
    assert ids
    scratch = Path(f"/tmp/{slots.USER_PREFIX}{slot}")
    scratch.mkdir(mode=0o711, exist_ok=True)
    (scratch / "job7").mkdir(exist_ok=True)
    daemon = subprocess.Popen(["sleep", "300"], user=ids[0], group=ids[1], start_new_session=True)
    try:
        os.close(lock_fd)  # the worker that held the slot is gone; its user's daemon is not
        line = cleanup.clean_leftovers()
        assert daemon.wait(timeout=5) == -signal.SIGKILL
        assert not scratch.exists()
        assert line.startswith("cleanup: an earlier run was killed before it could clean up: killed "), line
        assert "of slot users" in line and str(scratch) in line
    finally:
        daemon.kill()


def test_a_runs_workers_remove_their_scratch_folders_when_the_run_ends():
    """What a run leaves is not a leftover: the next run's cleanup line must not report it as a killed run's."""
    from autograder import runner

    pool = runner.Workers(2)
    try:
        for f in pool._warming:
            f.result(timeout=600)  # a worker has taken its slot and made its scratch folder
        assert cleanup.scratch_of_run(os.getpid())
    finally:
        pool.close()  # as a run does at its end, or on Ctrl-C
    assert not cleanup.scratch_of_run(os.getpid())


def test_cleanup_removes_a_dead_runs_course_copy_but_not_this_runs_or_a_live_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(slots, "TMP", tmp_path)
    old = tmp_path / "seqgrade-course-dead"
    old.mkdir()
    time.sleep(0.05)
    started = time.time()  # this process "starts" between the two folders
    monkeypatch.setattr(cleanup, "_process_start_time", lambda: started)
    time.sleep(0.05)
    own = tmp_path / "seqgrade-course-this-run"  # grade.py may make it before the cleanup runs
    own.mkdir()

    monkeypatch.setattr(cleanup, "_other_live_runs", lambda: True)
    assert str(old) not in cleanup.clean_leftovers() and old.exists()
    monkeypatch.setattr(cleanup, "_other_live_runs", lambda: False)
    line = cleanup.clean_leftovers()
    assert str(old) in line and not old.exists()
    assert own.exists() and str(own) not in line


# ---------------------------------------------------------------- end to end: kill -9 in the middle of a batch

NETWORK_PROBE = """
import socket, threading

def _reaches(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False

reached_outside = _reaches(%d)
_srv = socket.socket()
_srv.bind(("127.0.0.1", 0))
_srv.listen()
threading.Thread(target=lambda: (lambda c: c.sendall(c.recv(4)))(_srv.accept()[0])).start()
_c = socket.create_connection(_srv.getsockname(), timeout=5)
_c.sendall(b"ping")
own_loopback = _c.recv(4) == b"ping"
print("reached outside:", reached_outside, "own loopback:", own_loopback)
"""


def _batch(tmp: Path, port: int) -> Path:
    batch = tmp / "submitted"
    nb = _append(_nb(), NETWORK_PROBE % port)
    _in_body(nb, "embedding_lookup", "if reached_outside or not own_loopback:\n    return None")  # right only when isolated
    nb.cells.insert(2, nb.cells.pop())  # the probe runs before build_vocab is defined
    for student, notebook in {"control": _nb(), "network": nb, "loop": _append(_nb(), "while True:\n    pass")}.items():
        (batch / student / A).mkdir(parents=True)
        nbformat.write(notebook, batch / student / A / f"{A}.ipynb")
    return batch


def _busy_kernel(run: psutil.Process, timeout: float) -> psutil.Process:
    """The run's kernel stuck in the loop: a process of a slot's user with seconds of CPU time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in run.children(recursive=True):
            try:
                if p.uids().real != 0 and sum(p.cpu_times()[:2]) > 3.0:
                    return p
            except psutil.Error:
                pass
        time.sleep(0.2)
    raise AssertionError("the looping kernel never started")


@root_only
def test_kill_9_mid_batch_leaves_nothing_and_a_rerun_grades_everything(tmp_path):
    outside = _Listener()
    batch, out = _batch(tmp_path, outside.port), tmp_path / "out"
    cli = subprocess.Popen(_command(batch, out, "--assignment", A, "--cell-timeout", "600"), cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        run = psutil.Process(cli.pid)
        kernel = _busy_kernel(run, timeout=600)
        family = run.children(recursive=True)
        assert kernel in family and len(family) >= 4  # tracker, workers, fork servers, kernel
        t0 = time.monotonic()
        os.kill(cli.pid, signal.SIGKILL)  # as the OOM killer or a dropped SSH session would
        cli.wait()
        left = _survivors(family, wait=10)
        gone_after = time.monotonic() - t0
    finally:
        cli.kill()
    assert not left, left
    assert gone_after < 10

    rerun = subprocess.run(_command(batch, out, "--assignment", A, "--cell-timeout", "5"), cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
    outside.close()
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    m = COUNTS.search(rerun.stdout)
    assert m and int(m[1]) == 3 and int(m[2]) + int(m[3]) == 3, rerun.stdout
    with open(out / "cells.csv", encoding="utf-8-sig", newline="") as f:
        cells: dict[str, dict] = {}
        for r in csv.DictReader(f):
            cells.setdefault(r["student_id"], {})[r["grade_id"]] = (float(r["score"]), r["status"])
    # The same code as the control, graded in the same batch, earns the same: the loop cost only its
    # own cell, and the notebook that serves on its own loopback (and finds the grader's closed) loses nothing.
    assert cells["loop"] == cells["control"] and cells["network"] == cells["control"], cells
    assert all(cells["network"][g] == (float(POINTS[g]), "passed") for g in EL), cells["network"]
    assert outside.accepted == 0, "a graded notebook reached a server on the grader's loopback"

    notes = [line for line in rerun.stderr.splitlines() if line.startswith("note: ")]
    assert notes[0].startswith("note: sandbox: users yes, "), rerun.stderr
    assert notes[1].startswith("note: cleanup: "), rerun.stderr
    lines = rerun.stderr.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(("note: ", "problem: ", "graded ")))
    assert lines[first] == notes[0], "the sandbox line must come first, before any submission is graded"
    users = {p.pw_uid for p in pwd.getpwall() if p.pw_name.startswith(slots.USER_PREFIX)}
    assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE and p.uids().real in users]


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox mounts only as root")
@pytest.mark.parametrize("hide", [False, True], ids=["nothing to hide", "a folder to hide"])
def test_a_kernel_mounts_nothing_the_machine_sees(tmp_path, hide):
    """Confining a kernel of another user covers folders (a hidden course folder; /root around
    pyenv's Python) in the kernel's own mount namespace only: the machine's mounts stay as they
    were, also when there is nothing to hide."""
    from autograder.sandbox import confine

    secret = tmp_path / "secret"
    secret.mkdir()
    before = Path("/proc/self/mountinfo").read_text()
    settings = Confinement(str(tmp_path), {"PATH": "/usr/bin:/bin"}, hide=(str(secret),) if hide else (),
                           uid=65534, gid=65534)
    pid = os.fork()
    if pid == 0:  # the kernel's side: confine, then report whether the secret is covered for it
        code = 1
        try:
            skipped = confine.confine(settings, server_pid=os.getppid())
            code = 0 if "mount namespace" not in skipped else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert Path("/proc/self/mountinfo").read_text() == before, "confining a kernel changed the machine's mounts"
