"""Device choice, seeding and the quick mode of long experiments."""
import os
import random

import numpy as np
import torch

#: Set (to anything but "" or "0") when notebooks run under the grader or the test suite:
#: cells tagged ``long-experiment`` then run a short version.
QUICK_ENV = "SEQLAB_QUICK"


def quick_mode() -> bool:
    """True when long experiments should run their short version (grading, tests)."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")


def pick_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and PyTorch; return a fresh NumPy generator with that seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
