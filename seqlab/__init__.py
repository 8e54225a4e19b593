"""seqlab: what the course notebooks share that is not an answer.

- ``seqlab.testing``: checks that explain a failure (expected vs got, shapes, the likely mistake)
- ``seqlab.oracles``: reference results from PyTorch built-ins with copied weights, for tests
- ``seqlab.data``: small synthetic data sets shipped with the course
- ``seqlab.plots`` and ``seqlab.widgets``: figures and front-end-only widgets for the pages
- ``seqlab.runtime``: device choice, seeding, quick mode for long experiments
- ``seqlab.text`` and ``seqlab.charlm``: chapter 09's corpus and data pipeline, and its given models
  (``CharLSTM``, ``CharTransformer``), decoding helpers and timing of generation
"""

__version__ = "0.3.0"
