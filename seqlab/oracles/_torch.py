"""Conversions between the NumPy arrays of the tests and the tensors of the built-ins."""
import numpy as np
import torch


def t(x) -> torch.Tensor:
    """A float64 (or integer) CPU tensor holding a copy of ``x``."""
    arr = np.array(x)
    if np.issubdtype(arr.dtype, np.floating):
        return torch.tensor(arr, dtype=torch.float64)
    return torch.tensor(arr)


def n(x: torch.Tensor) -> np.ndarray:
    """A NumPy copy of a tensor."""
    return x.detach().cpu().numpy()


def load_course_weights(module: torch.nn.Module, W_in, W_rec, b) -> torch.nn.Module:
    """Copy course-layout weights into a PyTorch recurrent layer (layer 0 of ``nn.RNN`` /
    ``nn.LSTM`` / ``nn.GRU``) or cell; returns it.

    The course multiplies rows on the right (``x_t @ W_in``, ``W_in (D, G·H)``); PyTorch stores
    the transposes and two biases whose sum is the course's one: ``b`` goes into ``bias_ih``,
    zeros into ``bias_hh``.
    """
    suffix = "_l0" if hasattr(module, "weight_ih_l0") else ""
    with torch.no_grad():
        for name, value in [("weight_ih", W_in.T), ("weight_hh", W_rec.T), ("bias_ih", b)]:
            getattr(module, name + suffix).copy_(torch.as_tensor(value))
        getattr(module, "bias_hh" + suffix).zero_()
    return module
