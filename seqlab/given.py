"""What earlier chapters built, computed by PyTorch's built-ins, for later chapters' demos.

Chapter 03 checks its backward pass against a forward pass, and chapter 04 plots gradients
through the states of a forward pass; neither asks the student to write that forward again.
This module gives it, computed by ``torch.nn.RNN`` (never by a hand-written copy of an answer),
and, unlike ``seqlab.oracles``, it is available while a notebook is graded.
"""
from __future__ import annotations

import numpy as np
import torch


def rnn_forward(X, h0, W_xh, W_hh, b_h) -> np.ndarray:
    """All hidden states ``H (N, T, H)`` = h_1..h_T of the course's tanh RNN, by ``nn.RNN``.

    X (N, T, D), h0 (N, H), W_xh (D, H), W_hh (H, H), b_h (H,): NumPy arrays; float64 result.
    PyTorch stores the transposed weights and two biases whose sum is ``b_h``.
    """
    X, h0, W_xh, W_hh, b_h = (torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in (X, h0, W_xh, W_hh, b_h))
    D, H = W_xh.shape
    rnn = torch.nn.RNN(D, H, batch_first=True, dtype=torch.float64, device="cpu")
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh.T)
        rnn.weight_hh_l0.copy_(W_hh.T)
        rnn.bias_ih_l0.copy_(b_h)
        rnn.bias_hh_l0.zero_()
        states, _ = rnn(X, h0[None])  # nn.RNN wants h0 as (num_layers=1, N, H)
    return states.numpy()
