"""`tb_lr_plugin.torch.rows`: the bulk conversion of the step hook's rows.

Each fast path (flat tuples read by numpy in one pass; `betas` pairs
through an object array) must give exactly what the row-by-row path gives,
and rows it cannot read whole must fall back to that path, not be misread.
"""

import numpy as np
import torch
from torch_training import torch_framework  # noqa: F401 - autouse: ids name torch

from tb_lr_plugin.torch import rows as rows_lib


def _rows(n, make_item, groups=2, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        lrs = rng.random(groups).tolist()
        lasts = tuple(lrs)
        out.append((i // 10, lasts, *(make_item(lr, rng) for lr in lrs)))
    return out


def _both(rows, layout):
    fast = rows_lib.columns(rows, layout, exact_types=True)
    slow = rows_lib.columns(rows, layout, exact_types=False)
    return fast, slow


def _assert_same(fast, slow):
    for a, b in zip(fast, slow, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_flat_rows_convert_as_row_by_row():
    rows = _rows(1000, lambda lr, rng: (lr, float(rng.random()), float(rng.random())))
    layout = [("momentum", "weight_decay")] * 2
    fast, slow = _both(rows, layout)
    _assert_same(fast, slow)
    assert fast[2].shape == (1000, 4)
    # Columns are (group 0: momentum, weight decay, group 1: momentum, weight decay).
    assert fast[2][7, 2] == rows[7][3][1] and fast[1][7, 1] == rows[7][3][0]
    np.testing.assert_array_equal(fast[0], np.arange(1000) // 10)


def test_bare_lrs_and_betas_pairs_convert_as_row_by_row():
    _assert_same(*_both(_rows(300, lambda lr, rng: lr), [(), ()]))
    betas = _rows(300, lambda lr, rng: (lr, (0.9, float(rng.random())), 1e-4))
    fast, slow = _both(betas, [("betas", "weight_decay")] * 2)
    _assert_same(fast, slow)
    assert fast[2][5, 1] == betas[5][2][1][1]


def test_rows_the_fast_path_cannot_read_whole_fall_back():
    layout = [("momentum",)] * 2
    rows = _rows(50, lambda lr, rng: (lr, 0.9))
    # A group added mid-run (a longer row), and a missing value.
    rows[10] = (*rows[10], (0.5, 0.9))
    rows[20] = (rows[20][0], rows[20][1], (None, 0.9), rows[20][3])
    fast, slow = _both(rows, layout)
    _assert_same(fast, slow)
    assert np.isnan(fast[1][20, 0]) and fast[1][10, 1] == rows[10][3][0]


def test_a_cpu_tensor_lr_is_read_as_its_value():
    rows = _rows(20, lambda lr, rng: (lr, 0.9))
    rows[3] = (rows[3][0], rows[3][1], (torch.tensor(0.25, dtype=torch.float64), 0.9), rows[3][3])
    fast, slow = _both(rows, [("momentum",)] * 2)
    _assert_same(fast, slow)
    assert fast[1][3, 0] == 0.25
