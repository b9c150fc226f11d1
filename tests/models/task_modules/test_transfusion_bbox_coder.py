import math

import pytest
import torch

from vision_sparse.models.task_modules import TransFusionBBoxCoder
from vision_sparse.registry import TASK_UTILS

PCR = [-10.0, -20.0, -3.0, 10.0, 20.0, 3.0]


def _coder(**kw):
    return TransFusionBBoxCoder(point_cloud_range=PCR, voxel_size=[0.25, 0.5, 6.0],
                                out_size_factor=2, **kw)


def _split(code):
    """(M, 10) targets -> prediction dict with B = 1."""
    t = code.T[None]
    return dict(center=t[:, 0:2], height=t[:, 2:3], dim=t[:, 3:6], rot=t[:, 6:8],
                vel=t[:, 8:10], heatmap=torch.zeros(1, 3, code.shape[0]))


def test_encode_hand_values():
    box = torch.tensor([[0.5, 1.0, -1.0, 4.0, 2.0, 1.5, math.pi / 6, 1.0, -2.0]])
    t = _coder().encode(box)[0]
    # cell = (0.5, 1.0) m; x: (0.5 + 10) / 0.5 = 21, y: (1 + 20) / 1 = 21
    expected = [21.0, 21.0, -1.0, math.log(4), math.log(2), math.log(1.5), 0.5,
                math.sqrt(3) / 2, 1.0, -2.0]
    assert torch.allclose(t, torch.tensor(expected), atol=1e-6)


def test_round_trip_exact():
    g = torch.Generator().manual_seed(0)
    m = 17
    boxes = torch.cat([torch.rand(m, 1, generator=g) * 20 - 10,
                       torch.rand(m, 1, generator=g) * 40 - 20,
                       torch.rand(m, 1, generator=g) * 4 - 2,
                       torch.rand(m, 3, generator=g) * 5 + 0.2,
                       torch.rand(m, 1, generator=g) * 2 * math.pi - math.pi,
                       torch.randn(m, 2, generator=g)], 1).double()
    coder = _coder()
    boxes_out, scores, labels = coder.decode(_split(coder.encode(boxes)))
    assert boxes_out.shape == (1, m, 9)
    assert torch.allclose(boxes_out[0], boxes, atol=1e-12)
    assert torch.allclose(scores, torch.full((1, m), 0.5, dtype=scores.dtype))
    assert labels.dtype == torch.int64


def test_nan_velocity_and_code_size_8():
    box = torch.tensor([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, float('nan'), float('nan')]])
    t = _coder().encode(box)
    assert torch.isnan(t[0, 8:]).all() and torch.isfinite(t[0, :8]).all()
    assert _coder(code_size=8).encode(box).shape == (1, 8)


def test_decode_filter():
    coder = _coder(score_threshold=0.3, post_center_range=[-5, -5, -5, 5, 5, 5])
    boxes = torch.tensor([[0.0, 0, 0, 1, 1, 1, 0, 0, 0], [8.0, 0, 0, 1, 1, 1, 0, 0, 0],
                          [1.0, 0, 0, 1, 1, 1, 0, 0, 0]])
    preds = _split(coder.encode(boxes))
    scores = torch.tensor([[[0.9, 0.9, 0.1]]])
    out = coder.decode(preds, scores=scores, filter=True)
    assert out[0]['mask'].tolist() == [True, False, False]
    assert out[0]['bboxes'].shape == (1, 9)


def test_registered_and_bad_input():
    coder = TASK_UTILS.build(dict(type='TransFusionBBoxCoder', point_cloud_range=PCR,
                                  voxel_size=[0.2, 0.2], out_size_factor=4))
    assert coder.cell_size == pytest.approx((0.8, 0.8))
    with pytest.raises(ValueError, match='point_cloud_range'):
        TransFusionBBoxCoder(point_cloud_range=[0, 0, 0], voxel_size=[1, 1])
    with pytest.raises(ValueError, match='boxes'):
        coder.encode(torch.zeros(3, 5))
