"""Geometric transfer (sparse depth maps + encoder) and semantic transfer (BEV cells
sample the image features of the views that see them)."""
import pytest
import torch
from torch import nn

from vision_sparse.models.layers.fusion import (SemanticTransfer, SparseDepthEncoder,
                                                project_to_normalized, sparse_depth_maps)
from vision_sparse.ops import project_depth

from .synthetic import IMG_SHAPE, rig


def _points(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(n, 4, generator=g) * torch.tensor([20.0, 40.0, 3.0, 1.0])
    return pts - torch.tensor([10.0, 20.0, 1.5, 0.0])


def test_depth_maps_equal_project_depth_at_the_stride():
    _, _, l2i = rig()
    pts = _points()
    stride, size = 4, (16, 24)
    maps = sparse_depth_maps([pts, pts[:100]], torch.stack([l2i, l2i]), size, stride,
                             depth_mean=0.0, depth_std=1.0)
    assert maps.shape == (2, 2, 2, 16, 24)
    for b, p in enumerate((pts, pts[:100])):
        m = l2i.clone()
        m[:, :2] = (m[:, :2] + 0.5 * m[:, 2:3]) / stride
        ref = project_depth(p, m, size)
        assert torch.equal(maps[b, :, 0], ref)
        assert torch.equal(maps[b, :, 1], (ref > 0).float())
    # a point projecting to pixel (u, v) (centres at integers) lands on cell
    # floor((u + 0.5) / 4): u = 7.4 -> cell 1, u = 7.6 -> cell 2
    k = l2i[0]
    for u, cell in ((7.4, 1), (7.6, 2)):
        depth = 10.0
        pix = torch.tensor([u * depth, 20.0 * depth, depth, 1.0])
        pt = torch.linalg.solve(k, pix)[:3][None]
        d = sparse_depth_maps([pt], l2i[None], size, stride, 0.0, 1.0)[0, 0, 0]
        assert d[5, cell].item() == pytest.approx(depth, rel=1e-5)
        assert (d > 0).sum() == 1


def test_depth_normalisation_and_encoder_fusion():
    torch.manual_seed(0)
    _, _, l2i = rig()
    pts = _points()
    enc = SparseDepthEncoder(in_channels=8, depth_channels=4, num_levels=2, stride=4)
    maps = enc.depth_maps([pts], l2i[None], (16, 24))
    raw = sparse_depth_maps([pts], l2i[None], (16, 24), 4, 0.0, 1.0)
    mask = raw[:, :, 1] > 0
    expect = (raw[:, :, 0] - 14.41) / 156.89 ** 0.5
    assert torch.allclose(maps[:, :, 0][mask], expect[mask])
    assert (maps[:, :, 0][~mask] == 0).all()
    feats = [torch.randn(2, 8, 16, 24, requires_grad=True), torch.randn(2, 8, 8, 12),
             torch.randn(2, 8, 4, 6)]
    out = enc(feats, [pts], l2i[None])
    assert [o.shape for o in out] == [f.shape for f in feats]
    assert out[2] is feats[2]  # levels past num_levels pass through
    out[0].sum().backward()
    assert enc.fuse[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='lidar2img'):
        enc(feats, [pts], l2i[None, :1])  # a missing view
    with pytest.raises(ValueError, match='lidar2img'):
        enc(feats, [pts], l2i[None, :, :3])


def _identity_transfer(channels, heights, levels=1, points=1):
    st = SemanticTransfer(img_channels=channels, bev_channels=channels, embed_dims=channels,
                          num_heads=1, num_levels=levels, num_points=points, heights=heights,
                          point_cloud_range=(-16.0, -16.0, -3.0, 16.0, 16.0, 3.0),
                          voxel_size=(0.5, 0.5, 0.2), out_size_factor=4)
    with torch.no_grad():  # sample exactly at the anchor, identity projections
        for lin in (st.attn.value_proj, st.attn.output_proj):
            lin.weight.copy_(torch.eye(channels))
            lin.bias.zero_()
        st.attn.sampling_offsets.bias.zero_()
    return st


def test_semantic_transfer_reads_the_projected_pixel_and_zero_when_invisible():
    _, _, l2i = rig()
    h, w = IMG_SHAPE
    st = _identity_transfer(3, heights=(0.5,))
    anchors = st.cell_anchors(16, 16)  # (256, 1, 3), 2 m cells
    loc, vis = project_to_normalized(anchors.reshape(1, -1, 3), l2i, IMG_SHAPE, 0.1)
    # cell (row 12, col 9): x = 3 m, y = 9 m, ahead of view 0
    cell = 12 * 16 + 9
    assert vis[0, cell] and not vis[1, cell]
    u, v = (loc[0, cell] * torch.tensor([w, h]) - 0.5).tolist()
    feats = torch.zeros(2, 3, h, w)
    iu, iv = round(u), round(v)
    feats[0, :, iv - 1:iv + 2, iu - 1:iu + 2] = torch.tensor([1.0, 2.0, 3.0])[:, None, None]
    out = st(torch.randn(1, 3, 16, 16), [feats], l2i[None], IMG_SHAPE)
    assert out.shape == (1, 3, 16, 16)
    assert torch.allclose(out[0, :, 12, 9], torch.tensor([1.0, 2.0, 3.0]), atol=1e-6)
    seen = vis.any(0).view(16, 16)
    assert seen.any() and (~seen).any()
    assert (out[0][:, ~seen] == 0).all()  # cells no view sees


def test_semantic_transfer_max_merges_views_and_masks_invisible_anchors():
    _, _, l2i = rig()
    h, w = IMG_SHAPE
    st = _identity_transfer(2, heights=(-1.0, 0.5, 30.0), levels=2, points=2)
    with torch.no_grad():
        st.attn.sampling_offsets.bias.zero_()
    # constant maps: view 0 reads (1, -1), view 1 reads (2, -2), on both levels
    lv0 = torch.stack([torch.tensor([1.0, -1.0]), torch.tensor([2.0, -2.0])])[:, :, None, None]
    feats = [lv0.expand(2, 2, h, w).clone(), lv0.expand(2, 2, h // 2, w // 2).clone()]
    out = st(torch.randn(1, 2, 16, 16), feats, l2i[None], IMG_SHAPE)[0]
    anchors = st.cell_anchors(16, 16)
    loc, vis = project_to_normalized(anchors.reshape(1, -1, 3), l2i, IMG_SHAPE, 0.1)
    vis = vis.view(2, 256, 3)
    # the anchor at 30 m height is invisible everywhere: it must not dilute the sum
    assert not vis[:, :, 2].any()
    # keep cells whose visible anchors sample at least a pixel inside (no zero padding)
    margin = torch.tensor([1.0 / w, 1.0 / h]) * 2
    inner = ((loc.view(2, 256, 3, 2) > margin) & (loc.view(2, 256, 3, 2) < 1 - margin)).all(-1)
    in0 = (vis[0] == inner[0]).all(-1) & vis[0].any(-1)
    in1 = (vis[1] == inner[1]).all(-1) & vis[1].any(-1)
    flat = out.reshape(2, -1).T
    assert in0.any() and in1.any()
    assert torch.allclose(flat[in0 & ~vis[1].any(-1)], torch.tensor([1.0, -1.0]), atol=1e-5)
    assert torch.allclose(flat[in1 & ~vis[0].any(-1)], torch.tensor([2.0, -2.0]), atol=1e-5)
    both = in0 & in1
    if both.any():  # element-wise max over the views
        assert torch.allclose(flat[both], torch.tensor([2.0, -1.0]), atol=1e-5)
    none = ~(vis[0].any(-1) | vis[1].any(-1))
    assert none.any() and (flat[none] == 0).all()


def test_semantic_transfer_gradients_and_bad_input():
    torch.manual_seed(0)
    _, _, l2i = rig()
    st = SemanticTransfer(img_channels=8, bev_channels=6, embed_dims=8, num_heads=2,
                          num_levels=2, num_points=2, heights=(0.0, 1.0),
                          point_cloud_range=(-16.0, -16.0, -3.0, 16.0, 16.0, 3.0),
                          voxel_size=(0.5, 0.5, 0.2), out_size_factor=8)
    feats = [torch.randn(2, 8, 16, 24, requires_grad=True), torch.randn(2, 8, 8, 12)]
    bev = torch.randn(1, 6, 8, 8, requires_grad=True)
    # offsets / weights start query-independent (zero weights, Deformable DETR's init)
    nn.init.normal_(st.attn.sampling_offsets.weight, std=0.1)
    out = st(bev, feats, l2i[None], IMG_SHAPE)
    assert out.shape == (1, 8, 8, 8) and torch.isfinite(out).all()
    out.square().sum().backward()
    assert feats[0].grad.abs().sum() > 0 and bev.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in st.parameters() if p.grad is not None)
    with pytest.raises(ValueError, match='lidar2img'):
        st(bev, feats, l2i[None, :1], IMG_SHAPE)  # one view missing
    with pytest.raises(ValueError, match='lidar2img'):
        st(bev, feats, l2i[None, :, :3, :3], IMG_SHAPE)
    with pytest.raises(ValueError, match='bev_feat'):
        st(bev[:, :4], feats, l2i[None], IMG_SHAPE)
    with pytest.raises(ValueError, match='levels'):
        st(bev, feats[:1], l2i[None], IMG_SHAPE)


def test_semantic_transfer_cell_heights_mode():
    """Official mode: one anchor at each cell's point height; cells without points
    (NaN height) get 0; heights move the projection."""
    _, _, l2i = rig()
    h, w = IMG_SHAPE
    st = _identity_transfer(1, heights=(0.0,))
    heights = torch.full((1, 16, 16), float('nan'))
    heights[0, 12, 9] = 0.5
    heights[0, 12, 10] = -1.0
    feats = torch.zeros(2, 1, h, w)
    anchors = st.cell_anchors(16, 16).clone()
    anchors[12 * 16 + 9, 0, 2] = 0.5
    loc, _ = project_to_normalized(anchors[12 * 16 + 9][None], l2i[0], IMG_SHAPE, 0.1)
    u, v = (loc[0, 0] * torch.tensor([w, h]) - 0.5).tolist()
    feats[0, 0, round(v) - 1:round(v) + 2, round(u) - 1:round(u) + 2] = 7.0
    out = st(torch.randn(1, 1, 16, 16), [feats], l2i[None], IMG_SHAPE, cell_heights=heights)
    assert out[0, 0, 12, 9].item() == pytest.approx(7.0)
    nonzero = out[0, 0] != 0
    assert nonzero.sum() <= 2 and nonzero[12, 9]  # every NaN cell reads 0
    with pytest.raises(ValueError, match='cell_heights'):
        st(torch.randn(1, 1, 16, 16), [feats], l2i[None], IMG_SHAPE, cell_heights=heights[0])
