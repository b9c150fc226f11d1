import torch

from vision_sparse.models.task_modules import HungarianAssigner3D, focal_cost
from vision_sparse.registry import TASK_UTILS

PCR = [-10.0, -10.0, -3.0, 10.0, 10.0, 3.0]


def _boxes(xs):
    b = torch.zeros(len(xs), 9)
    b[:, 0] = torch.tensor(xs)
    b[:, 3:6] = 1.0
    return b


def test_known_optimum_beats_greedy():
    # L1 centre costs (x only): p0-g0 0.9, p0-g1 2, p1-g0 0.1, p1-g1 1, p2 far.
    # Greedy (p1-g0 first) totals 2.1; the optimum p0-g0 + p1-g1 totals 1.9.
    assigner = HungarianAssigner3D(cls_weight=0.0, iou_weight=0.0, reg_weight=1.0)
    out = assigner.assign(_boxes([0.0, 1.0, 9.0]), torch.zeros(3, 2), _boxes([0.9, 2.0]),
                          torch.tensor([0, 1]), PCR)
    assert out['gt_inds'].tolist() == [0, 1, -1]
    assert torch.allclose(out['cost'][0, 0], torch.tensor(0.9 / 20))


def test_iou_and_class_costs():
    assigner = TASK_UTILS.build(dict(type='HungarianAssigner3D'))
    preds = _boxes([0.0, 0.05])
    logits = torch.tensor([[-5.0, 5.0], [5.0, -5.0]])  # p0 says class 1, p1 class 0
    out = assigner.assign(preds, logits, _boxes([0.0, 0.0]), torch.tensor([0, 1]), PCR)
    assert out['gt_inds'].tolist() == [1, 0]  # the class cost decides
    # shifted by 0.05: overlap 0.95, union 1.05
    assert torch.allclose(out['iou'], torch.tensor([1.0, 0.95 / 1.05]), atol=1e-5)
    c = focal_cost(logits, torch.tensor([0, 1]))
    assert c[1, 0] < 0 < c[0, 0]


def test_empty_and_more_gt_than_queries():
    a = HungarianAssigner3D()
    out = a.assign(_boxes([1.0]), torch.zeros(1, 3), torch.zeros(0, 9),
                   torch.zeros(0, dtype=torch.long), PCR)
    assert out['gt_inds'].tolist() == [-1] and out['cost'].shape == (1, 0)
    out = a.assign(torch.zeros(0, 9), torch.zeros(0, 3), _boxes([1.0]), torch.tensor([0]), PCR)
    assert out['gt_inds'].shape == (0,)
    out = a.assign(_boxes([1.0]), torch.zeros(1, 3), _boxes([1.0, 5.0]), torch.tensor([0, 2]), PCR)
    assert out['gt_inds'].tolist() == [0]
    # inf predicted sizes do not break the IoU cost
    bad = _boxes([0.0])
    bad[0, 3] = float('inf')
    out = a.assign(bad, torch.zeros(1, 3), _boxes([0.0]), torch.tensor([0]), PCR)
    assert out['gt_inds'].tolist() == [0]
