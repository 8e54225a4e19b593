"""The attack suite's submissions (tests/attacks/*.py) as solution cells: what the attack tests
grade, and what chapter tests reuse as a mistake (02's nn.RNN reached by a computed name).

An attack file is a set of cells, each opened by ``# %% <grade_id>``; a line ``# @<payload>`` is
replaced by tests/attacks/<payload>.py less its first line (shared code, not a submission).
"""
from __future__ import annotations

import re
from pathlib import Path

ATTACKS = Path(__file__).resolve().parent / "attacks"

#: Payloads, not submissions: an attack's ``# @<name>`` line is replaced by tests/attacks/<name>.py (less its first line).
PAYLOADS = ("rebind", "rnn_parts")

#: rnn_forward of the submissions whose rnn_step is wrong: its own step, so that only rnn_step's cells can be lost.
OWN_FORWARD = '''def rnn_forward(X, h0, W_xh, W_hh, b_h):
    states, h = [], h0
    for s in range(X.shape[1]):
        h = np.tanh(X[:, s] @ W_xh + h @ W_hh + b_h)  # not rnn_step: this submission's rnn_step is wrong
        states.append(h)
    return np.stack(states, axis=1)
'''


def attack_cells(name: str) -> dict[str, str]:
    """grade_id -> source of the solution cells that attack ``name`` replaces (``# @rebind``, ``# @rnn_parts`` filled in)."""
    text = (ATTACKS / f"{name}.py").read_text()
    for payload in PAYLOADS:
        text = text.replace(f"# @{payload}\n", (ATTACKS / f"{payload}.py").read_text().split("\n", 1)[1])
    parts = re.split(r"^# %% (\w+)\n", text, flags=re.M)
    cells = {gid: src.strip("\n") + "\n" for gid, src in zip(parts[1::2], parts[2::2])}
    if "rnn_step" in cells:
        cells.setdefault("rnn_forward", OWN_FORWARD)
    return cells
