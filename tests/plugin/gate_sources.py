"""Inner test sources shared by the plugin tests. A plain module (not conftest.py): pytest
puts this directory on sys.path (rootdir-based import), so ``from gate_sources import ...``
works under ``pytest`` and ``python -m pytest`` alike; ``tests`` is not a package.
"""

# Two array-form gates on 3,000 samples: identical predictions (enough unchanged samples to
# rule out a change of 0.02), and 300 new errors in group b.
TWO_GATES = """
import numpy as np
from pytest_fairquant import assert_no_bias_amplification

def data(flips):
    rng = np.random.default_rng(0)
    groups = np.repeat(["a", "b"], 1500)
    y = rng.integers(0, 2, size=3000)
    base = np.where(rng.random(3000) < 0.9, y, 1 - y)
    compressed = base.copy()
    hit = np.flatnonzero((groups == "b") & (base == y))[:flips]
    compressed[hit] = 1 - compressed[hit]
    return dict(y_true=y, base_pred=base, compressed_pred=compressed, sensitive_features=groups)

def test_same():
    assert_no_bias_amplification(**data(0), tolerance=0.02)

def test_worse():
    assert_no_bias_amplification(**data(300), tolerance=0.02)
"""
