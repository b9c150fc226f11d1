"""PointPillars pillar feature net: points of a pillar -> one feature vector."""
import torch
from torch import Tensor, nn

from vision_sparse.registry import MODELS
from vision_sparse.utils.config import merge_conf

__all__ = ['PillarFeatureNet']


def _slot_mask(voxels: Tensor, num_points: Tensor) -> Tensor:
    """(M, P, 1) 1 for the filled point slots of each voxel, 0 for the padding."""
    slots = torch.arange(voxels.shape[1], device=voxels.device)
    return (slots[None] < num_points[:, None]).to(voxels.dtype)[..., None]


@MODELS.register_module()
class PillarFeatureNet(nn.Module):
    """Per-pillar PointNet (PointPillars) on the hard voxels of
    :class:`vision_sparse.ops.Voxelization`.

    Every point of a pillar is decorated with its offset to the mean of the pillar's
    points (``with_cluster_center``, 3 columns), its ``(x, y)`` offset to the pillar
    centre (``with_voxel_center``, 2 columns) and optionally its distance to the
    origin (``with_distance``, 1 column); each layer is ``Linear (no bias) ->
    BatchNorm1d -> ReLU``; a layer that is not the last concatenates its per-point
    output with the pillar maximum (so it has half the channels), the last one returns
    the maximum over the pillar's points. Empty slots of a pillar are zeroed before
    and after the point-wise layers.

    Args:
        in_channels (int): point columns C (x, y, z, intensity, ...), >= 3.
        feat_channels (Sequence[int]): output channels of the layers.
        voxel_size (Sequence[float]): (3,) pillar sides, metres.
        point_cloud_range (Sequence[float]): (6,) ``[x0, y0, z0, x1, y1, z1]``.
        with_cluster_center (bool), with_voxel_center (bool), with_distance (bool):
            the decorations above.
    """

    default_conf = dict(in_channels=4, feat_channels=(64,), voxel_size=(0.2, 0.2, 8.0),
                        point_cloud_range=(0, -40, -3, 70.4, 40, 1), with_cluster_center=True,
                        with_voxel_center=True, with_distance=False)

    def __init__(self, **conf):
        super().__init__()
        self.conf = c = merge_conf(self.default_conf, conf, type(self).__name__)
        if int(c['in_channels']) < 3:
            raise ValueError(f'in_channels must be >= 3, got {c["in_channels"]}')
        if len(c['feat_channels']) < 1:
            raise ValueError('feat_channels must list at least one layer width')
        self.voxel_size = [float(v) for v in c['voxel_size']]
        self.point_cloud_range = [float(v) for v in c['point_cloud_range']]
        if len(self.voxel_size) != 3 or len(self.point_cloud_range) != 6:
            raise ValueError('voxel_size must have 3 numbers and point_cloud_range 6')
        ch = (int(c['in_channels']) + 3 * c['with_cluster_center'] + 2 * c['with_voxel_center']
              + int(c['with_distance']))
        self.layers = nn.ModuleList()
        widths = list(c['feat_channels'])
        for i, out in enumerate(widths):
            last = i == len(widths) - 1
            width = out if last else out // 2
            self.layers.append(nn.ModuleDict(dict(
                linear=nn.Linear(ch, width, bias=False),
                norm=nn.BatchNorm1d(width, eps=1e-3, momentum=0.01))))
            ch = out
        self.out_channels = widths[-1]

    def decorate(self, voxels: Tensor, num_points: Tensor, coors: Tensor) -> Tensor:
        """(M, P, C) voxels -> (M, P, C') decorated point features (empty slots 0)."""
        c = self.conf
        mask = _slot_mask(voxels, num_points)
        feats = [voxels]
        xyz = voxels[..., :3]
        if c['with_cluster_center']:
            mean = (xyz * mask).sum(1, keepdim=True) / num_points.clamp(min=1).view(-1, 1, 1)
            feats.append(xyz - mean)
        if c['with_voxel_center']:
            vx, vy = self.voxel_size[:2]
            x0, y0 = self.point_cloud_range[:2]
            cx = coors[:, 3].to(voxels.dtype) * vx + (vx / 2 + x0)
            cy = coors[:, 2].to(voxels.dtype) * vy + (vy / 2 + y0)
            feats.append(torch.stack([xyz[..., 0] - cx[:, None], xyz[..., 1] - cy[:, None]], -1))
        if c['with_distance']:
            feats.append(xyz.norm(dim=-1, keepdim=True))
        return torch.cat(feats, -1) * mask

    def forward(self, voxels: Tensor, num_points: Tensor, coors: Tensor) -> Tensor:
        """Pillar features.

        Args:
            voxels (Tensor): (M, P, C) points per pillar (hard voxelisation), metres.
            num_points (Tensor): (M,) valid points per pillar.
            coors (Tensor): (M, 4) ``(batch, z, y, x)`` cell indices (or (M, 3) ``(z, y, x)``).

        Returns:
            Tensor: (M, out_channels).
        """
        if voxels.dim() != 3 or voxels.shape[-1] != self.conf['in_channels']:
            raise ValueError(f'voxels must be (M, P, {self.conf["in_channels"]}), got '
                             f'{tuple(voxels.shape)}')
        if coors.dim() != 2 or coors.shape[0] != voxels.shape[0] or coors.shape[1] not in (3, 4):
            raise ValueError(f'coors must be (M, 4) or (M, 3), got {tuple(coors.shape)}')
        if coors.shape[1] == 3:
            coors = torch.cat([coors.new_zeros(coors.shape[0], 1), coors], 1)
        mask = _slot_mask(voxels, num_points)
        x = self.decorate(voxels, num_points, coors)
        m, p, _ = x.shape
        for i, layer in enumerate(self.layers):
            x = layer['linear'](x)
            if m:
                x = layer['norm'](x.reshape(m * p, -1)).reshape(m, p, -1)
            x = torch.relu(x) * mask
            pooled = x.max(dim=1, keepdim=True).values if p else x.new_zeros(m, 1, x.shape[-1])
            if i == len(self.layers) - 1:
                return pooled[:, 0]
            x = torch.cat([x, pooled.expand(-1, p, -1)], -1)
