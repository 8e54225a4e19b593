"""What runs beside the student's code, and answers without being trusted.

host (the fork server: per notebook, a confined kernel and, beside it, a judge) · sandbox (users,
cgroups, mounts, network, limits: ``Limits`` is their one definition) · servant (the kernel's end
of the bridge: runs the student's cells, answers the judge's requests). Nothing here decides a
grade: a pass is decided in ``autograder.judge``; between the two only ``autograder.wire`` data
crosses.
"""
