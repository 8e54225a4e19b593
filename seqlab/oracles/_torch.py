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
