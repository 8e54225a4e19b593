# The payload, not a submission: put where an attack says `# @rnn_parts`.
def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _builtin_rnn():
    """torch.nn.RNN, found by walking the subclasses of torch.nn.Module: its name is nowhere in the code."""
    return next(c for c in _subclasses(torch.nn.Module) if c.__name__ == "RNN" and c.__module__.startswith("torch."))


class _Parameters(torch.nn.Module):
    """The course's parameters W_xh, W_hh, b_h, and the same weights in torch.nn.RNN's layout."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1.0 / hidden_size ** 0.5
        for name, shape in (("W_xh", (input_size, hidden_size)), ("W_hh", (hidden_size, hidden_size)),
                            ("b_h", (hidden_size,))):
            setattr(self, name, torch.nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def builtin_weights(self) -> dict:
        return {"weight_ih_l0": self.W_xh.T, "weight_hh_l0": self.W_hh.T, "bias_ih_l0": self.b_h,
                "bias_hh_l0": torch.zeros_like(self.b_h)}

    def h0(self, X, h0):
        return h0 if h0 is not None else X.new_zeros(X.shape[0], self.W_hh.shape[0])
