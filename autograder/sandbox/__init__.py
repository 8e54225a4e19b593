"""Where student code runs, what it may touch, and how nothing of it outlives the grader.

Each grading worker owns a *slot* (slots.py): an unprivileged user ``seqgrade-w<N>`` (created
with ``useradd`` when the grader runs as root), a cgroup with memory, pids and cpu caps
(cgroups.py: v1 or v2, whichever the machine mounts), and a scratch folder owned by that user.
A student's kernel, forked by the fork server, confines itself before running any student code
(confine.py):

1. it dies with the fork server (a parent-death signal), takes its own session and process
   group, and joins the slot's cgroup;
2. a private mount namespace in which the course folder (all of it but the Python
   environment and the helper package), the submissions, the output folder and the
   grader's private tree are covered by empty, unreadable tmpfs mounts;
3. a network namespace of its own with only a loopback: no network, not the grader's loopback;
4. resource limits: processes (binds as the unprivileged user), file size, core dumps, and
   CPU seconds (the backstop when everything above the kernel is gone; limits.Limits.rlimits);
5. the slot's user and group, no supplementary groups, cwd = its scratch copy; then the
   parent-death signal again (a change of user clears it).

Each step that the machine does not allow (not root, no cgroups, no namespaces) is skipped.
Once per run, the grading command says which steps hold here (probe.py, tried for real in a
throwaway child) and kills or removes what a run killed outright left behind (cleanup.py).

Modules, one concern each: slots (slots, their users and scratch folders) · cgroups (the three
backends) · confine (what a kernel does to itself) · probe (what holds on this machine) · cleanup
(what earlier runs left, and the run's own scratch at its end).
"""
