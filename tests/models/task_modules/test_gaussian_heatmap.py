import math

import pytest
import torch

from vision_sparse.models.task_modules import draw_gaussian, gaussian_2d, gaussian_radius


def test_radius_hand_value():
    # size 4 x 4, overlap 0.1: case 3 is the smallest,
    # r3 = (-1.6 + sqrt(1.6^2 + 4 * 0.4 * 14.4)) / 2 = (-1.6 + sqrt(25.6)) / 2
    r = gaussian_radius((4, 4), min_overlap=0.1)
    assert r == pytest.approx((-1.6 + math.sqrt(25.6)) / 2, abs=1e-12)
    assert r == pytest.approx(1.72982, abs=1e-5)
    assert gaussian_radius((0, 0), 0.1) == 0
    with pytest.raises(ValueError, match='min_overlap'):
        gaussian_radius((1, 1), 1.0)


def test_gaussian_2d_hand_values():
    g = gaussian_2d(1)  # sigma = 0.5: edge exp(-2), corner exp(-4)
    assert g.shape == (3, 3) and g[1, 1] == 1
    assert g[0, 1].item() == pytest.approx(math.exp(-2), rel=1e-6)
    assert g[0, 0].item() == pytest.approx(math.exp(-4), rel=1e-6)


def test_draw_clips_and_max_merges():
    hm = torch.zeros(4, 5)
    draw_gaussian(hm, (0.7, 0.2), 1)  # truncated to cell (x=0, y=0)
    assert hm[0, 0] == 1 and hm[0, 1].item() == pytest.approx(math.exp(-2), rel=1e-6)
    assert hm[1, 1].item() == pytest.approx(math.exp(-4), rel=1e-6)
    assert hm[2:].sum() == 0 and hm[:, 2:].sum() == 0
    draw_gaussian(hm, (1, 0), 1, k=0.5)  # max merge: (0, 0) stays 1
    assert hm[0, 0] == 1 and hm[0, 1].item() == pytest.approx(0.5)
    before = hm.clone()
    draw_gaussian(hm, (7, 1), 2)  # outside: nothing drawn
    assert torch.equal(hm, before)
    draw_gaussian(hm, (4, 3), 2)  # bottom-right corner
    assert hm[3, 4] == 1 and hm[3, 3].item() == pytest.approx(math.exp(-1 / (2 * (5 / 6) ** 2)))
