import pytest
import torch

from vision_sparse.models.voxel_encoders import (PillarFeatureNet, PointPillarsScatter,
                                                 SparseEncoder, spconv_status)
from vision_sparse.ops import Voxelization
from vision_sparse.registry import MODELS

VS = [1.0, 1.0, 4.0]
PCR = [0.0, 0.0, -2.0, 4.0, 3.0, 2.0]


def _points():
    return torch.tensor([[0.2, 0.4, 0.0, 1.0], [0.6, 0.8, 1.0, 0.5],  # pillar x=0, y=0
                         [2.5, 1.5, -1.0, 0.2]])  # pillar x=2, y=1


def test_decoration_hand_values():
    net = PillarFeatureNet(in_channels=4, feat_channels=[8], voxel_size=VS,
                           point_cloud_range=PCR)
    voxels, coors, num = Voxelization(VS, PCR, max_num_points=3)(_points())
    coors = torch.cat([torch.zeros(len(coors), 1, dtype=coors.dtype), coors], 1)
    dec = net.decorate(voxels, num, coors)
    assert dec.shape == (2, 3, 4 + 3 + 2)
    # pillar 0: mean (0.4, 0.6, 0.5); centre (0.5, 0.5)
    assert torch.allclose(dec[0, 0, 4:], torch.tensor([-0.2, -0.2, -0.5, -0.3, -0.1]))
    assert torch.allclose(dec[1, 0, 4:], torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0]))
    assert dec[0, 2].abs().sum() == 0 and dec[1, 1:].abs().sum() == 0  # empty slots


def test_gradients_and_two_layers():
    torch.manual_seed(0)
    net = MODELS.build(dict(type='PillarFeatureNet', in_channels=4, feat_channels=[8, 6],
                            voxel_size=VS, point_cloud_range=PCR))
    voxels, coors, num = Voxelization(VS, PCR, max_num_points=3)(_points())
    coors4 = torch.cat([torch.zeros(len(coors), 1, dtype=coors.dtype), coors], 1)
    voxels = voxels.clone().requires_grad_(True)
    feats = net(voxels, num, coors4)
    assert feats.shape == (2, 6)
    scatter = PointPillarsScatter(6, (3, 4))
    bev = scatter(feats, coors4, 1)
    assert bev.shape == (1, 6, 3, 4)
    assert torch.equal(bev[0, :, 0, 0], feats[0]) and torch.equal(bev[0, :, 1, 2], feats[1])
    bev.square().sum().backward()
    assert voxels.grad is not None and torch.isfinite(voxels.grad).all()
    assert voxels.grad[0, :2].abs().sum() > 0
    assert all(p.grad is not None for p in net.parameters())


def test_empty_and_bad_input():
    net = PillarFeatureNet(in_channels=4, feat_channels=[8], voxel_size=VS,
                           point_cloud_range=PCR)
    out = net(torch.zeros(0, 5, 4), torch.zeros(0, dtype=torch.int32),
              torch.zeros(0, 4, dtype=torch.int32))
    assert out.shape == (0, 8)
    with pytest.raises(ValueError, match='voxels'):
        net(torch.zeros(2, 5, 3), torch.ones(2), torch.zeros(2, 4))
    with pytest.raises(ValueError, match='unknown options'):
        PillarFeatureNet(bogus=1)


def test_spconv_switch_says_why():
    with pytest.raises(NotImplementedError, match="pts_middle_encoder='pillars'"):
        SparseEncoder(in_channels=4)
    status = spconv_status()
    assert status is None or 'spconv' in status
