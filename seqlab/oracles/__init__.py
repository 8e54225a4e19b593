"""Reference results for tests, computed by PyTorch built-ins with copied weights.

One module per chapter. Each function takes and returns NumPy arrays (float64 in, float64
out) unless it says otherwise. ``*_mistakes`` functions return ``{description: value}``
for the common mistakes of an exercise, made by feeding the oracle altered inputs, so a
failing test can say which mistake the student's result looks like.
"""
