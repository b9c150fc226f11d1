"""SparseFusion's semantic transfer (camera -> LiDAR BEV) and the deformable
cross-attention it shares with the camera head.

Every BEV cell is lifted to 3-D at a few heights (its "anchors"), each anchor is
projected into every camera with ``lidar2img``; the cell's BEV feature is the query of
a multi-scale deformable attention (learned offsets and weights) over that view's
image feature levels, sampling around the visible anchors only. Views in which no
anchor of a cell is visible do not take part; the remaining views are merged by an
element-wise maximum; cells visible in no view get 0.

Image positions are normalised as :func:`vision_sparse.ops.ms_deform_attn` expects:
``x = (u + 0.5) / W`` for a pixel ``u`` of the packed image (pixel centres at integers),
so a feature level of any stride samples the same image point.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ....registry import MODELS
from ....utils.config import merge_conf
from .geometric_transfer import check_lidar2img

__all__ = ['DeformableCrossAttention', 'SemanticTransfer', 'flatten_levels',
           'project_to_normalized']


def flatten_levels(feats: Sequence[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
    """Multi-level maps -> the flat value layout of ``ms_deform_attn``.

    Args:
        feats (Sequence[Tensor]): L maps (N, C, h_l, w_l).

    Returns:
        tuple: ``value`` (N, sum h_l w_l, C), ``spatial_shapes`` (L, 2) int64
        ``(h, w)``, ``level_start_index`` (L,) int64.
    """
    shapes = torch.tensor([f.shape[-2:] for f in feats], dtype=torch.long,
                          device=feats[0].device)
    start = torch.cat([shapes.new_zeros(1), (shapes[:, 0] * shapes[:, 1]).cumsum(0)[:-1]])
    value = torch.cat([f.flatten(2).transpose(1, 2) for f in feats], 1)
    return value, shapes, start


def project_to_normalized(points: Tensor, lidar2img: Tensor, img_shape: Tuple[int, int],
                          min_depth: float = 1e-3) -> Tuple[Tensor, Tensor]:
    """Project LiDAR points into views as normalised image positions.

    Args:
        points (Tensor): (..., P, 3) metres, broadcast against ``lidar2img``'s
            leading dims: ``lidar2img`` (..., 4, 4) maps every point set.
        lidar2img (Tensor): (..., 4, 4) packed-image projections.
        img_shape (tuple[int, int]): (H, W) pixels.
        min_depth (float): nearer points are invisible.

    Returns:
        tuple: ``loc`` (..., P, 2) normalised ``((u + 0.5) / W, (v + 0.5) / H)``,
        ``visible`` (..., P) bool (in front and inside ``[0, 1)^2``).
    """
    homo = torch.cat([points, torch.ones_like(points[..., :1])], -1)
    proj = homo @ lidar2img.transpose(-1, -2)
    depth = proj[..., 2]
    safe = torch.where(depth > min_depth, depth, torch.ones_like(depth))
    size = proj.new_tensor([img_shape[1], img_shape[0]])
    loc = (proj[..., :2] / safe[..., None] + 0.5) / size
    visible = (depth > min_depth) & (loc >= 0).all(-1) & (loc < 1).all(-1)
    return loc, visible


@MODELS.register_module()
class DeformableCrossAttention(nn.Module):
    """Multi-scale deformable cross-attention with several reference anchors per
    query and a per-anchor visibility mask.

    Each query predicts, per head / level / anchor, ``num_points`` offsets (in cells of
    the level) around its anchor's reference position and one weight per sample;
    weights are a softmax over the visible samples (levels x anchors x points) of a
    head, invisible anchors get weight 0 (a query with no visible anchor reads 0).

    Args:
        embed_dims (int): query / output channels.
        value_dims (int, optional): value channels (default ``embed_dims``).
        num_heads (int): attention heads (``embed_dims % num_heads == 0``).
        num_levels (int): feature levels.
        num_anchors (int): reference anchors per query.
        num_points (int): samples per (head, level, anchor).
    """

    def __init__(self, embed_dims: int, value_dims: Optional[int] = None, num_heads: int = 4,
                 num_levels: int = 1, num_anchors: int = 1, num_points: int = 4):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by num_heads '
                             f'({num_heads})')
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.num_levels, self.num_anchors, self.num_points = num_levels, num_anchors, num_points
        n = num_heads * num_levels * num_anchors * num_points
        self.value_proj = nn.Linear(value_dims or embed_dims, embed_dims)
        self.sampling_offsets = nn.Linear(embed_dims, n * 2)
        self.attention_weights = nn.Linear(embed_dims, n)
        self.output_proj = nn.Linear(embed_dims, embed_dims)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero offset / weight layers; offsets start on a ring of radius 1..P cells
        around the anchor (one direction per head), as Deformable DETR."""
        nn.init.zeros_(self.sampling_offsets.weight)
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        ang = torch.arange(self.num_heads, dtype=torch.float32) * (2 * torch.pi / self.num_heads)
        ring = torch.stack([ang.cos(), ang.sin()], -1)
        ring = ring / ring.abs().amax(-1, keepdim=True)
        grid = ring[:, None, None, None, :] * torch.arange(
            1, self.num_points + 1, dtype=torch.float32)[None, None, None, :, None]
        grid = grid.expand(self.num_heads, self.num_levels, self.num_anchors,
                           self.num_points, 2)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(-1))
        for lin in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, query: Tensor, value: Tensor, spatial_shapes: Tensor,
                level_start_index: Tensor, reference: Tensor,
                anchor_mask: Optional[Tensor] = None) -> Tensor:
        """Attend.

        Args:
            query (Tensor): (N, Q, embed_dims).
            value (Tensor): (N, K, value_dims), the flat levels (:func:`flatten_levels`).
            spatial_shapes (Tensor): (L, 2) int64.
            level_start_index (Tensor): (L,) int64.
            reference (Tensor): (N, Q, A, 2) normalised ``(x, y)`` per anchor.
            anchor_mask (Tensor, optional): (N, Q, A) bool, True = visible.

        Returns:
            Tensor: (N, Q, embed_dims).
        """
        from ....ops import ms_deform_attn
        n, q, _ = query.shape
        m, lv, a, p = self.num_heads, self.num_levels, self.num_anchors, self.num_points
        if reference.shape != (n, q, a, 2):
            raise ValueError(f'reference must have shape {(n, q, a, 2)}, got '
                             f'{tuple(reference.shape)}')
        if spatial_shapes.shape[0] != lv:
            raise ValueError(f'expected {lv} feature levels, got {spatial_shapes.shape[0]}')
        v = self.value_proj(value).view(n, value.shape[1], m, self.embed_dims // m)
        off = self.sampling_offsets(query).view(n, q, m, lv, a, p, 2)
        wh = spatial_shapes.flip(-1).to(off.dtype)  # (L, 2) as (w, h)
        loc = reference[:, :, None, None, :, None, :] + off / wh[None, None, None, :, None, None]
        logits = self.attention_weights(query).view(n, q, m, lv, a, p)
        if anchor_mask is None:
            w = logits.flatten(3).softmax(-1)
        else:
            mask = anchor_mask[:, :, None, None, :, None].expand_as(logits)
            w = logits.masked_fill(~mask, -1e9).flatten(3).softmax(-1) * mask.flatten(3)
        out = ms_deform_attn(v, spatial_shapes, level_start_index,
                             loc.reshape(n, q, m, lv, a * p, 2).contiguous(),
                             w.view(n, q, m, lv, a * p).contiguous())
        return self.output_proj(out)


@MODELS.register_module()
class SemanticTransfer(nn.Module):
    """Camera -> BEV features by deformable attention from lifted BEV cells.

    Options (``default_conf``):
        img_channels (int): channels of the image levels.
        bev_channels (int): channels of the BEV query map (the LiDAR BEV features).
        embed_dims (int): attention / output channels.
        num_heads, num_levels, num_points (int): deformable attention sizes.
        heights (list[float]): anchor heights z (LiDAR frame, metres) of every cell.
        point_cloud_range (list[float]): ``[x0, y0, z0, x1, y1, z1]``.
        voxel_size (list[float]): ``[sx, sy, sz]``.
        out_size_factor (int): BEV cell = voxel * factor.
        min_depth (float): anchors nearer to a camera are invisible, metres.
    """

    default_conf = dict(img_channels=256, bev_channels=256, embed_dims=128, num_heads=8,
                        num_levels=4, num_points=4, heights=(-3.0, -1.0, 1.0),
                        point_cloud_range=(-54.0, -54.0, -5.0, 54.0, 54.0, 3.0),
                        voxel_size=(0.075, 0.075, 0.2), out_size_factor=8, min_depth=0.1)

    def __init__(self, **conf):
        super().__init__()
        self.conf = c = merge_conf(self.default_conf, conf, type(self).__name__)
        e = c['embed_dims']
        self.input_proj = nn.Linear(c['bev_channels'], e)
        self.pos_embed = nn.Sequential(nn.Linear(2, e), nn.ReLU(inplace=True), nn.Linear(e, e))
        self.attn = DeformableCrossAttention(e, c['img_channels'], c['num_heads'],
                                             c['num_levels'], len(c['heights']),
                                             c['num_points'])

    def cell_anchors(self, hb: int, wb: int, device=None) -> Tensor:
        """(hb * wb, Z, 3) LiDAR-frame anchors of the cells (row-major, cell centres)."""
        c = self.conf
        x0, y0 = c['point_cloud_range'][:2]
        sx = c['voxel_size'][0] * c['out_size_factor']
        sy = c['voxel_size'][1] * c['out_size_factor']
        ys = y0 + (torch.arange(hb, device=device, dtype=torch.float32) + 0.5) * sy
        xs = x0 + (torch.arange(wb, device=device, dtype=torch.float32) + 0.5) * sx
        yy, xx = torch.meshgrid(ys, xs, indexing='ij')
        zs = torch.tensor(c['heights'], dtype=torch.float32, device=device)
        xy = torch.stack([xx, yy], -1).reshape(-1, 1, 2).expand(-1, len(zs), 2)
        return torch.cat([xy, zs[None, :, None].expand(xy.shape[0], -1, 1)], -1)

    def forward(self, bev_feat: Tensor, img_feats: Sequence[Tensor], lidar2img: Tensor,
                img_shape: Tuple[int, int], cell_heights: Optional[Tensor] = None) -> Tensor:
        """Sample image features into BEV.

        Args:
            bev_feat (Tensor): (B, bev_channels, Hb, Wb) queries.
            img_feats (Sequence[Tensor]): ``num_levels`` maps (B * V, img_channels, h, w).
            lidar2img (Tensor): (B, V, 4, 4) packed-image projections.
            img_shape (tuple[int, int]): packed (H, W).
            cell_heights (Tensor, optional): (B, Hb, Wb) metres, e.g. the middle of
                the cell's LiDAR points (the official code lifts each cell to
                ``(min z + max z) / 2`` of its points, one anchor); the anchors are
                then ``cell_heights + heights`` (``heights`` as offsets) and
                non-finite entries (cells without points) see nothing. None: the
                anchors are the absolute ``heights``.

        Returns:
            Tensor: (B, embed_dims, Hb, Wb); 0 at cells no view sees.

        Raises:
            ValueError: bad shapes (a missing view, lidar2img not (B, V, 4, 4), wrong
            number of levels / channels).
        """
        c = self.conf
        if bev_feat.dim() != 4 or bev_feat.shape[1] != c['bev_channels']:
            raise ValueError(f"bev_feat must be (B, {c['bev_channels']}, Hb, Wb), got "
                             f'{tuple(bev_feat.shape)}')
        if len(img_feats) != c['num_levels']:
            raise ValueError(f"img_feats must have {c['num_levels']} levels, got {len(img_feats)}")
        b, _, hb, wb = bev_feat.shape
        if img_feats[0].shape[0] % b:
            raise ValueError(f'img_feats hold {img_feats[0].shape[0]} maps, not a multiple of '
                             f'the batch {b}')
        views = img_feats[0].shape[0] // b
        check_lidar2img(lidar2img, b, views)
        anchors = self.cell_anchors(hb, wb, bev_feat.device)[None]  # (1, Q, Z, 3)
        q, z = anchors.shape[1:3]
        if cell_heights is not None:
            if tuple(cell_heights.shape) != (b, hb, wb):
                raise ValueError(f'cell_heights must have shape {(b, hb, wb)}, got '
                                 f'{tuple(cell_heights.shape)}')
            anchors = anchors.repeat(b, 1, 1, 1)
            anchors[..., 2] += cell_heights.reshape(b, q, 1).to(anchors)
        mats = lidar2img.to(anchors.dtype).reshape(b, views, 4, 4)
        loc, vis = project_to_normalized(anchors.reshape(-1, 1, q * z, 3), mats, img_shape,
                                         c['min_depth'])
        if cell_heights is not None:
            vis = vis & torch.isfinite(anchors[..., 2]).reshape(b, 1, q * z)
        loc = loc.reshape(b * views, q, z, 2).nan_to_num().to(bev_feat.dtype)
        vis = vis.reshape(b * views, q, z)
        pos = self.pos_embed(self._normalised_cells(hb, wb, bev_feat))
        query = self.input_proj(bev_feat.flatten(2).transpose(1, 2)) + pos
        query = query.repeat_interleave(views, 0)
        value, shapes, start = flatten_levels(img_feats)
        out = self.attn(query, value, shapes, start, loc, vis)  # (B V, Q, E)
        seen = vis.any(-1).view(b, views, q, 1)
        out = out.view(b, views, q, -1).masked_fill(~seen, float('-inf')).amax(1)
        out = torch.where(seen.any(1), out, torch.zeros_like(out))
        return out.transpose(1, 2).reshape(b, -1, hb, wb)

    @staticmethod
    def _normalised_cells(hb: int, wb: int, like: Tensor) -> Tensor:
        ys = (torch.arange(hb, device=like.device, dtype=like.dtype) + 0.5) / hb
        xs = (torch.arange(wb, device=like.device, dtype=like.dtype) + 0.5) / wb
        yy, xx = torch.meshgrid(ys, xs, indexing='ij')
        return torch.stack([xx, yy], -1).reshape(1, -1, 2)
