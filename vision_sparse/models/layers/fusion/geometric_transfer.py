"""SparseFusion's geometric transfer (LiDAR -> camera): the current sweep is
projected into every view as a sparse depth map at the stride of the first image
feature level, encoded by a small CNN and fused into the multi-level image features.

Depth map (as the official ``SparseDepth`` pipeline step, but computed in the model
with :func:`vision_sparse.ops.project_depth`): a point lands on the feature cell
``(floor((v + 0.5) / s), floor((u + 0.5) / s))`` where ``(u, v)`` is its pixel in
the packed image (pixel centres at integers) and ``s`` the stride, so cell ``j``
covers the input pixels whose areas lie in ``[j s, (j + 1) s)``; the nearest point
wins. Two channels: the normalised depth ``(d - mean) / std`` (0 where empty) and
the occupancy mask.
"""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ....registry import MODELS
from ....utils.config import merge_conf

__all__ = ['SparseDepthEncoder', 'sparse_depth_maps', 'check_lidar2img']


def check_lidar2img(lidar2img, batch: int, views: int, name: str = 'lidar2img') -> Tensor:
    """Validate a batch of projection matrices.

    Args:
        lidar2img (Tensor): (B, V, 4, 4).
        batch (int): expected B.
        views (int): expected V (the number of image views).
        name (str): argument name for messages.

    Returns:
        Tensor: the input.

    Raises:
        ValueError: not a tensor, wrong shape (a missing view shows as a wrong V),
        non-finite entries.
    """
    if not isinstance(lidar2img, Tensor):
        raise ValueError(f'{name} must be a torch.Tensor (B, V, 4, 4), got '
                         f'{type(lidar2img).__name__}')
    if lidar2img.dim() != 4 or tuple(lidar2img.shape[-2:]) != (4, 4):
        raise ValueError(f'{name} must have shape (B, V, 4, 4), got {tuple(lidar2img.shape)}')
    if lidar2img.shape[0] != batch or lidar2img.shape[1] != views:
        raise ValueError(f'{name} has {tuple(lidar2img.shape[:2])} (batch, views) but the '
                         f'images have ({batch}, {views}): a view is missing or extra')
    if not torch.isfinite(lidar2img).all():
        raise ValueError(f'{name} must be finite')
    return lidar2img


def sparse_depth_maps(points: Sequence[Tensor], lidar2img: Tensor, feat_size: Tuple[int, int],
                      stride: float, depth_mean: float = 14.41, depth_std: float = 12.53,
                      max_depth: float = float('inf')) -> Tensor:
    """Sparse depth maps at a feature stride.

    Args:
        points (Sequence[Tensor]): B tensors (N_i, >=3) LiDAR frame, metres.
        lidar2img (Tensor): (B, V, 4, 4) for the packed image (pixel centres at
            integers).
        feat_size (tuple[int, int]): (h, w) of the feature map.
        stride (float): input pixels per feature cell.
        depth_mean (float): metres, subtracted from the depth.
        depth_std (float): metres, divides the depth (official: sqrt(156.89)).
        max_depth (float): farther points are skipped.

    Returns:
        Tensor: (B, V, 2, h, w) float32: normalised depth (0 where empty), mask.
    """
    from ....ops import project_depth
    maps = []
    for pts, mats in zip(points, lidar2img):
        m = mats.to(pts.dtype if pts.is_floating_point() else torch.float32).clone()
        m[:, :2] = (m[:, :2] + 0.5 * m[:, 2:3]) / stride
        depth = project_depth(pts, m, feat_size, max_depth=max_depth).float()
        mask = (depth > 0).float()
        maps.append(torch.stack([(depth - depth_mean) / depth_std * mask, mask], 1))
    return torch.stack(maps, 0)


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


@MODELS.register_module()
class SparseDepthEncoder(nn.Module):
    """Encode the sparse depth maps and fuse them into the image feature levels.

    Level 0 works at the depth-map resolution, every further level downsamples the
    depth features by 2 (resized to the image level if the sizes differ by rounding);
    each level is fused as ``img + conv3x3([img, depth_feat])`` (the official
    ``DepthEncoderResNet`` replaces the image features by the fused conv output; the
    residual here keeps the image features intact at initialisation).

    Options (``default_conf``):
        in_channels (int): channels of every image level.
        depth_channels (int): hidden width of the depth CNN.
        num_levels (int): image levels to fuse (the first ``num_levels``).
        stride (float): input pixels per cell of level 0 (4 for ResNet C2 / FPN P2).
        depth_mean, depth_std (float): depth normalisation, metres (official values).
        max_depth (float): farther points are skipped.
    """

    default_conf = dict(in_channels=256, depth_channels=32, num_levels=4, stride=4,
                        depth_mean=14.41, depth_std=156.89 ** 0.5, max_depth=float('inf'))

    def __init__(self, **conf):
        super().__init__()
        self.conf = c = merge_conf(self.default_conf, conf, type(self).__name__)
        dc = c['depth_channels']
        self.stem = _conv_bn_relu(2, dc)
        self.down = nn.ModuleList([_conv_bn_relu(dc, dc, 1 if i == 0 else 2)
                                   for i in range(c['num_levels'])])
        self.fuse = nn.ModuleList([nn.Conv2d(c['in_channels'] + dc, c['in_channels'], 3, 1, 1)
                                   for _ in range(c['num_levels'])])

    def depth_maps(self, points: Sequence[Tensor], lidar2img: Tensor,
                   feat_size: Tuple[int, int]) -> Tensor:
        """(B, V, 2, h, w) maps at level 0 (see :func:`sparse_depth_maps`)."""
        c = self.conf
        return sparse_depth_maps(points, lidar2img, feat_size, c['stride'], c['depth_mean'],
                                 c['depth_std'], c['max_depth'])

    def forward(self, img_feats: Sequence[Tensor], points: Sequence[Tensor],
                lidar2img: Tensor) -> List[Tensor]:
        """Fuse depth into the image features.

        Args:
            img_feats (Sequence[Tensor]): levels (B * V, C, h_l, w_l), finest first;
                levels past ``num_levels`` pass unchanged.
            points (Sequence[Tensor]): B tensors (N_i, >=3).
            lidar2img (Tensor): (B, V, 4, 4) packed-image projections.

        Returns:
            list[Tensor]: the fused levels, same shapes.

        Raises:
            ValueError: mismatched batch / views / channels.
        """
        if len(img_feats) < self.conf['num_levels']:
            raise ValueError(f'img_feats has {len(img_feats)} levels, expected >= '
                             f"{self.conf['num_levels']}")
        batch = len(points)
        if batch == 0 or img_feats[0].shape[0] % batch:
            raise ValueError(f'points has {batch} samples, which does not divide the '
                             f'{img_feats[0].shape[0]} image feature maps (B * V)')
        views = img_feats[0].shape[0] // batch
        check_lidar2img(lidar2img, batch, views)
        for lvl, f in enumerate(img_feats[:self.conf['num_levels']]):
            if f.shape[1] != self.conf['in_channels']:
                raise ValueError(f'img_feats[{lvl}] has {f.shape[1]} channels, expected '
                                 f"{self.conf['in_channels']}")
        size = tuple(img_feats[0].shape[-2:])
        depth = self.depth_maps(points, lidar2img, size).flatten(0, 1).to(img_feats[0])
        x = self.stem(depth)
        out = list(img_feats)
        for lvl in range(self.conf['num_levels']):
            x = self.down[lvl](x)
            img = img_feats[lvl]
            if x.shape[-2:] != img.shape[-2:]:
                x = F.interpolate(x, size=img.shape[-2:], mode='nearest')
            out[lvl] = img + self.fuse[lvl](torch.cat([img, x], 1))
        return out
