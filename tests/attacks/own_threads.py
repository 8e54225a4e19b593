# %% rnn_forward
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def _idle():
    while True:
        time.sleep(0.05)


threading.Thread(target=_idle, daemon=True).start()  # a background thread that only sleeps


def rnn_forward(X, h0, W_xh, W_hh, b_h):
    # The input part of each step does not depend on the others: a pool computes them.
    with ThreadPoolExecutor(max_workers=2) as pool:
        inputs = list(pool.map(lambda s: X[:, s] @ W_xh + b_h, range(X.shape[1])))
    states, h = [], h0
    for x_part in inputs:
        h = np.tanh(x_part + h @ W_hh)
        states.append(h)
    return np.stack(states, axis=1)
