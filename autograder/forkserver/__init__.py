"""The fork server, above both sides: it forks each notebook's kernel (kernel/) and judge (judge/),
times their cells and reports how each ran, and decides nothing.

server (requests in, replies out; the cell timer, the memory watchdog, re-runs after a death) ·
shell (the IPython shell both sides run cells in). ``python -m autograder.forkserver`` runs it.
"""
