"""SparseFusion, LiDAR only, on a tiny synthetic point cloud (points on box surfaces)."""
import math
import time
from pathlib import Path

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from vision_sparse.registry import MODELS

BASE = Path(__file__).resolve().parent / 'sparsefusion_lidar_tiny.py'
GT_BOXES = torch.tensor([[3.0, -2.0, -0.8, 4.2, 1.9, 1.6, 0.4, 1.0, 0.5],
                         [-4.0, 5.0, -0.7, 0.8, 0.8, 1.8, -1.0, float('nan'), float('nan')]])
GT_LABELS = torch.tensor([0, 1])


def box_surface_points(box: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 4) points on the four sides and the top of a (9,) box, intensity in [0, 1)."""
    l, w, h, yaw = box[3].item(), box[4].item(), box[5].item(), box[6].item()
    u = torch.rand(n, 3, generator=gen) - 0.5
    face = torch.randint(0, 5, (n,), generator=gen)
    local = u * torch.tensor([l, w, h])
    local[face == 0, 0] = l / 2
    local[face == 1, 0] = -l / 2
    local[face == 2, 1] = w / 2
    local[face == 3, 1] = -w / 2
    local[face == 4, 2] = h / 2
    c, s = math.cos(yaw), math.sin(yaw)
    xy = torch.stack([c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1]], 1)
    xyz = torch.cat([xy, local[:, 2:]], 1) + box[:3]
    return torch.cat([xyz, torch.rand(n, 1, generator=gen)], 1)


def scene(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    ground = torch.cat([torch.rand(300, 2, generator=gen) * 25.6 - 12.8,
                        torch.full((300, 1), -1.6), torch.rand(300, 1, generator=gen)], 1)
    pts = [ground] + [box_surface_points(b, 150, gen) for b in GT_BOXES]
    return torch.cat(pts)


def sample(boxes=GT_BOXES, labels=GT_LABELS):
    s = DetDataSample(metainfo=dict(sample_idx=0, box_type_3d='LiDAR'))
    s.gt_instances_3d = InstanceData(bboxes_3d=boxes.clone(), labels_3d=labels.clone())
    return s


def recalibrate_bn(model, batches):
    """Precise BN: running statistics = the average batch statistics of ``batches``
    (50 steps at the paper's momentum 0.01 leave them near their initial values)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for inputs, samples in batches:
            model(inputs, samples, mode='tensor')
    model.eval()


def build():
    torch.manual_seed(0)
    return MODELS.build(Config.fromfile(str(BASE)).model)


def test_trains_and_finds_the_boxes():
    torch.set_num_threads(1)
    model = build()
    points = scene()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    start, history = time.perf_counter(), []
    for _ in range(50):
        losses = model(dict(points=[points]), [sample()], mode='loss')
        total = sum(v for k, v in losses.items() if 'loss' in k)
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append(total.item())
    elapsed = time.perf_counter() - start
    assert sum(history[-5:]) / 5 < 0.5 * sum(history[:5]) / 5, history
    assert elapsed < 20, f'{elapsed:.1f} s'
    recalibrate_bn(model, [(dict(points=[points]), [sample()])])
    out = model(dict(points=[points]), [sample()], mode='predict')[0].pred_instances_3d
    assert out.bboxes_3d.shape[1] == 9 and len(out) > 0
    for box, label in zip(GT_BOXES, GT_LABELS.tolist()):
        mine = out.labels_3d == label
        assert mine.any(), f'no box of class {label}'
        top = out.bboxes_3d[mine][0]  # best of its class
        assert (top[:2] - box[:2]).norm() < 1.0, (top, box)
    top = out.bboxes_3d[0]
    assert min((top[:2] - b[:2]).norm() for b in GT_BOXES) < 1.0


def test_empty_cloud_nan_points_and_degenerate_gt():
    model = build()
    model.eval()
    pts = scene()
    with_nan = torch.cat([pts, torch.tensor([[float('nan'), 0.0, 0.0, 0.5],
                                             [1.0, float('inf'), 0.0, 0.5],
                                             [1.0, 1.0, 0.0, float('nan')]])])
    samples = model(dict(points=[torch.zeros(0, 4), with_nan]), [sample(), sample()],
                    mode='predict')
    assert len(samples[0].pred_instances_3d) == 0
    assert samples[0].pred_instances_3d.bboxes_3d.shape == (0, 9)
    clean = model(dict(points=[pts]), [sample()], mode='predict')[0].pred_instances_3d
    # the non-finite rows are dropped: same boxes as the clean cloud (batched: float noise)
    assert torch.allclose(samples[1].pred_instances_3d.bboxes_3d, clean.bboxes_3d, atol=1e-4)
    model.train()
    degenerate = GT_BOXES.clone()
    degenerate[1, 3:6] = 0.0
    losses = model(dict(points=[pts, torch.zeros(0, 4)]),
                   [sample(degenerate),
                    sample(torch.zeros(0, 9), torch.zeros(0, dtype=torch.long))],
                   mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    preds = model(dict(points=[pts]), [sample()], mode='tensor')
    assert preds[0]['center'].shape == (1, 2, 20)


def test_modalities_and_switches():
    cfg = Config.fromfile(str(BASE)).model
    for modality in ('camera', 'fusion'):  # the LiDAR-only config has no image parts
        with pytest.raises(ValueError, match='img_backbone is required'):
            MODELS.build(dict(cfg, modality=modality))
    with pytest.raises(NotImplementedError, match="pts_middle_encoder='pillars'"):
        MODELS.build(dict(cfg, pts_middle_encoder='spconv'))
    with pytest.raises(ValueError, match='pts_middle_encoder'):
        MODELS.build(dict(cfg, pts_middle_encoder='voxels'))
    with pytest.raises(ValueError, match='points'):
        build()(dict(points=[torch.zeros(5, 2)]), [sample()], mode='predict')
    with pytest.raises(ValueError, match='mode'):
        build()(dict(points=[scene()]), [sample()], mode='losses')
