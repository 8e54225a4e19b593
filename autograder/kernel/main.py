"""The student's kernel, from the fork: it confines itself, hides the course's reference answers
and the grader's own modules, and serves the judge's requests until the judge is done (servant.py).

Everything here runs beside the student's code and is never believed: it only answers.
"""
from __future__ import annotations

import os
import sys

from ..protocol import NotebookRequest
from ..sandbox.confine import confine, quiet_fds
from .servant import Servant, poison_oracles


def serve(request: NotebookRequest, sock, shell, run_cell, *, server_pid: int, cgroup_procs) -> None:
    """Run as the kernel of one notebook (a freshly forked child of the fork server); never returns.
    ``shell`` and ``run_cell``: the fork server's pristine IPython shell and how a cell runs in it."""
    confine(request.confinement, server_pid=server_pid, cgroup_procs=cgroup_procs)
    quiet_fds(keep={sock.fileno()})
    os.chdir(request.confinement.cwd)
    os.environ.clear()
    os.environ.update(request.confinement.env)
    sys.path.append(request.confinement.cwd)  # the student's own modules import; the course's win
    import torch

    torch.set_num_threads(1)
    poison_oracles()
    shell.user_ns.clear()
    shell.init_user_ns()
    servant = Servant(sock, shell, run_cell, request.limits.output_limit)
    _forget_grader_modules()
    servant.serve()
    os._exit(0)


def _forget_grader_modules() -> None:
    """The grader's own modules leave ``sys.modules`` before student code runs (the live servant and
    recorder keep working through their references), so that no import or lookup by name reaches
    them; the course folder they came from is hidden from the kernel, so they cannot be imported anew."""
    for name in [n for n in sys.modules if n == "autograder" or n.startswith("autograder.")]:
        del sys.modules[name]
