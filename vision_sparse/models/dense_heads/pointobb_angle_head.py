"""PointOBB's angle branch: dense PSC angle codes, dense-to-sparse matching, self-supervision.

Three steps, all in this head:

1. **Dense codes.** On every FPN level the same small conv tower (``stacked_convs``
   3x3 conv + ReLU layers, then a 3x3 conv to ``num_step`` channels, times one
   learnable scale) predicts a phase-shifting code (:class:`PSCCoder`) of the
   angle, ``code_k ~ cos(2 theta + 2 pi k / num_step)``, at each grid cell.
   The codes are raw (unbounded; ``code_act='tanh'`` bounds them): decoding
   only uses their direction, so any positive scaling decodes to the same angle.
2. **Dense-to-sparse matching** (:meth:`PointOBBAngleHead.point_codes`,
   :meth:`~PointOBBAngleHead.point_angles`). The cells of a level whose centres
   ``((j + 0.5) * stride, (i + 0.5) * stride)`` lie within ``pos_radius * stride``
   (Euclidean, strictly) of an annotated point are its positives; their codes are
   **averaged, then decoded** (the mean code is the amplitude-weighted circular mean
   of the doubled angles). A point with no such cell on a level (it lies outside
   that map) takes the code of the nearest cell.
3. **Self-supervision** (:meth:`~PointOBBAngleHead.loss`). The original view and a
   second view (rotated by ``phi`` or flipped) of the same images give one angle per
   object and view; :class:`AngleConsistencyLoss` pushes the wrapped residual
   (``theta_view - theta_ori - phi``, or ``theta_view + theta_ori`` for a flip) to 0.
   By default (``loss_levels='pooled'``, as the official code) the angle of an object
   is decoded from the mean code over its positive cells of *all* levels.
   Rotation-agnostic classes (storage tanks, roundabouts, ...) and points that left
   the second view (``valid``) are skipped.
4. **Self-training from the MIL pseudo boxes** (:meth:`~PointOBBAngleHead.pseudo_loss`,
   our addition, used by ``PointOBB(angle_self_training=...)``): the mean code of every
   level at each point regresses (L1) to the PSC code of the long-side angle of the
   object's current MIL pseudo box (detached). It gives the head codes that vary with the
   objects' orientation, the warm start the self-supervision needs (see point 3).

Angles: radians, ``theta`` rotates +x toward +y (clockwise on screen), 'le90'
range ``[-pi/2, pi/2)``. Self-supervision alone fixes angles only up to an
offset: rotation pairs ask for equivariance (``pred = true + c``), flip pairs for
``2 c = 0 (mod pi)``, i.e. ``c`` in {0, pi/2}; a pi/2 error is the same box with
width and height swapped, which the MIL bags' reciprocal aspect ratios absorb.
Being relative, the loss has no gradient at a predictor whose angle does not
depend on the object's orientation (a flat plateau for uniformly oriented
objects): learning relies on the initial codes varying with orientation.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from vision_sparse.models.losses.angle_consistency_loss import AngleConsistencyLoss
from vision_sparse.models.task_modules import PSCCoder
from vision_sparse.registry import MODELS
from vision_sparse.utils.checks import check_choice
from vision_sparse.utils.config import merge_conf

__all__ = ['PointOBBAngleHead']

CODE_ACTS = ('none', 'tanh')
LOSS_LEVELS = ('pooled', 'per_level')
FLIP_DIRECTIONS = ('vertical', 'horizontal')


class _Scale(nn.Module):
    """One learnable scalar multiplier (mmcv ``Scale``)."""

    def __init__(self, value: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(value)))

    def forward(self, x: Tensor) -> Tensor:
        """``x * scale``."""
        return x * self.scale


@MODELS.register_module()
class PointOBBAngleHead(nn.Module):
    """PSC angle codes per FPN level, their values at annotated points, and PointOBB's
    angle self-supervision loss (see the module docstring).

    Options (keyword arguments, defaults in :attr:`default_conf`):
        in_channels (int): channels of every input level (FPN ``out_channels``).
        feat_channels (int): channels of the conv tower.
        stacked_convs (int): 3x3 conv + ReLU layers before the code conv (>= 0).
        num_step (int): PSC phase steps (code length, >= 3).
        strides (Sequence[int]): stride (pixels) of each input level.
        pos_radius (float): positives = cells within ``pos_radius * stride`` of a point.
        code_act (str): ``'none'`` (raw codes, official) or ``'tanh'``.
        scale_codes (bool): multiply codes by one learnable scalar (official: True).
        detach_feats (bool): stop the angle loss from reaching the backbone/FPN.
        loss_levels (str): ``'pooled'``: one angle per object from the mean code over
            its positives of all levels (official); ``'per_level'``: one pair per level,
            losses averaged.
        beta (float): SmoothL1 beta of the angle residual, radians.
        loss_weight (float): weight of ``loss_angle`` (official configs: 0.5).
        angle_agnostic_labels (Sequence[int]): class indices without an orientation.
        angle_agnostic_classes (Sequence[str]): the same by name (needs ``classes``).
        classes (Sequence[str], optional): class names, index = label.
    """

    default_conf = dict(
        in_channels=256,
        feat_channels=256,
        stacked_convs=2,
        num_step=3,
        strides=(4, 8, 16, 32),
        pos_radius=1.5,
        code_act='none',
        scale_codes=True,
        detach_feats=False,
        loss_levels='pooled',
        beta=0.1,
        loss_weight=1.0,
        angle_agnostic_labels=(),
        angle_agnostic_classes=(),
        classes=None,
    )

    def __init__(self, **conf):
        super().__init__()
        self.conf = conf = merge_conf(self.default_conf, conf, type(self).__name__)
        check_choice('code_act', conf['code_act'], CODE_ACTS)
        check_choice('loss_levels', conf['loss_levels'], LOSS_LEVELS)
        if int(conf['stacked_convs']) < 0:
            raise ValueError(f"stacked_convs must be >= 0, got {conf['stacked_convs']!r}")
        if not conf['pos_radius'] > 0:
            raise ValueError(f"pos_radius must be > 0, got {conf['pos_radius']!r}")
        strides = tuple(conf['strides'])
        if not strides or any(not s > 0 for s in strides):
            raise ValueError(f'strides must be a non-empty sequence of positive numbers, '
                             f'got {conf["strides"]!r}')
        self.strides = strides
        self.coder = PSCCoder(int(conf['num_step']))
        self.agnostic_labels = self._resolve_agnostic(conf)
        layers = []
        chn = int(conf['in_channels'])
        for _ in range(int(conf['stacked_convs'])):
            layers += [nn.Conv2d(chn, int(conf['feat_channels']), 3, padding=1),
                       nn.ReLU(inplace=True)]
            chn = int(conf['feat_channels'])
        self.convs = nn.Sequential(*layers)
        self.conv_angle = nn.Conv2d(chn, self.coder.encode_size, 3, padding=1)
        self.scale = _Scale(1.0) if conf['scale_codes'] else nn.Identity()
        self.loss_angle = AngleConsistencyLoss(beta=conf['beta'],
                                               loss_weight=conf['loss_weight'])
        self.init_weights()

    def init_weights(self) -> None:
        """Tower convs: Kaiming-normal (fan_out, ReLU) weights and zero biases, as mmcv's
        ``ConvModule`` (the official head); the code conv keeps PyTorch's default init."""
        for layer in self.convs:
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode='fan_out', nonlinearity='relu')
                nn.init.zeros_(layer.bias)

    @staticmethod
    def _resolve_agnostic(conf: Dict) -> Tuple[int, ...]:
        labels = [int(c) for c in conf['angle_agnostic_labels']]
        names = list(conf['angle_agnostic_classes'])
        if names:
            classes = list(conf['classes'] or [])
            unknown = [n for n in names if n not in classes]
            if unknown:
                raise ValueError(f'angle_agnostic_classes {unknown} are not in classes '
                                 f'{classes}')
            labels += [classes.index(n) for n in names]
        return tuple(sorted(set(labels)))

    # ------------------------------------------------------------------ forward
    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """PSC codes of every level.

        Args:
            feats (Sequence[Tensor]): FPN levels, each (B, in_channels, H_l, W_l), in the
                order of ``strides``.

        Returns:
            list[Tensor]: (B, num_step, H_l, W_l) codes per level (raw, or in (-1, 1)
            with ``code_act='tanh'``).
        """
        if len(feats) != len(self.strides):
            raise ValueError(f'feats must have {len(self.strides)} levels (strides '
                             f'{self.strides}), got {len(feats)}')
        out = []
        for feat in feats:
            if feat.dim() != 4 or feat.shape[1] != self.conf['in_channels']:
                raise ValueError(f"each feature must be (B, in_channels="
                                 f"{self.conf['in_channels']}, H, W), "
                                 f'got {tuple(feat.shape)}')
            x = feat.detach() if self.conf['detach_feats'] else feat
            code = self.scale(self.conv_angle(self.convs(x)))
            out.append(torch.tanh(code) if self.conf['code_act'] == 'tanh' else code)
        return out

    # ------------------------------------------------------ dense-to-sparse matching
    def _check_codes_points(self, codes: Sequence[Tensor], points: Sequence[Tensor]) -> None:
        if len(codes) != len(self.strides):
            raise ValueError(f'codes must have {len(self.strides)} levels, got {len(codes)}')
        batch = codes[0].shape[0] if codes[0].dim() == 4 else -1
        for c in codes:
            if c.dim() != 4 or c.shape[:2] != (batch, self.coder.num_step):
                raise ValueError(f'codes must be (B, {self.coder.num_step}, H_l, W_l) with one B, '
                                 f'got {[tuple(x.shape) for x in codes]}')
        if len(points) != batch:
            raise ValueError(f'points must be a list of {batch} (N_i, 2) tensors, got '
                             f'{len(points)}')
        for p in points:
            if not isinstance(p, Tensor) or p.dim() != 2 or p.shape[1] != 2:
                shape = tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__
                raise ValueError(f'each points entry must be (N_i, 2) pixel coordinates, '
                                 f'got {shape}')
            if not torch.isfinite(p).all():
                raise ValueError('points must be finite (found NaN or inf)')

    def _level_codes(self, code: Tensor, pts: Tensor, stride: float) -> Tuple[Tensor, Tensor]:
        """Mean code of the cells within the radius of each point on one level.

        Args:
            code (Tensor): (C, H, W) codes of one image and level.
            pts (Tensor): (N, 2) pixel coordinates (x, y).
            stride (float): stride of the level, pixels.

        Returns:
            tuple[Tensor, Tensor]: (N, C) mean codes and (N,) int64 numbers of cells
            averaged (0 = none in the radius: the nearest cell's code is returned).
        """
        num_c, h, w = code.shape
        radius = float(self.conf['pos_radius'])
        m = int(math.ceil(radius)) + 1  # cells farther than m from the point's cell are out
        steps = torch.arange(-m, m + 1, device=code.device)
        pts = pts.to(code.dtype)
        cell = torch.floor(pts / stride).long()  # (N, 2) cell containing the point
        jx = (cell[:, 0, None, None] + steps[None, None, :]).expand(-1, steps.numel(), -1)
        jy = (cell[:, 1, None, None] + steps[None, :, None]).expand(-1, -1, steps.numel())
        k = steps.numel() ** 2
        jx, jy = jx.reshape(len(pts), k), jy.reshape(len(pts), k)  # (N, K)
        dx = (jx.to(code.dtype) + 0.5) * stride - pts[:, :1]
        dy = (jy.to(code.dtype) + 0.5) * stride - pts[:, 1:]
        inside = (jx >= 0) & (jx < w) & (jy >= 0) & (jy < h)
        pos = inside & (dx * dx + dy * dy < (radius * stride) ** 2)
        flat = code.reshape(num_c, h * w)
        idx = (jy.clamp(0, h - 1) * w + jx.clamp(0, w - 1))  # (N, K)
        cand = flat[:, idx].permute(1, 2, 0)  # (N, K, C)
        count = pos.sum(1)
        mean = ((cand * pos[..., None].to(code.dtype)).sum(1)
                / count.clamp(min=1)[:, None].to(code.dtype))
        nearest = cell[:, 1].clamp(0, h - 1) * w + cell[:, 0].clamp(0, w - 1)
        mean = torch.where((count > 0)[:, None], mean, flat[:, nearest].t())
        return mean, count

    def point_codes(self, codes: Sequence[Tensor],
                    points: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Dense-to-sparse matching of codes: the mean code at every point on every level.

        Args:
            codes (Sequence[Tensor]): per level (B, num_step, H_l, W_l), from :meth:`forward`.
            points (Sequence[Tensor]): per image (N_i, 2) pixel coordinates (x right, y
                down) of the padded input the codes were computed on.

        Returns:
            tuple[list[Tensor], list[Tensor]]: per image (N_i, L, num_step) mean codes and
            (N_i, L) int64 numbers of positive cells (0 = nearest-cell fallback).

        Raises:
            ValueError: on mismatched levels/batch, points not (N_i, 2) or not finite.
        """
        self._check_codes_points(codes, points)
        out_codes, out_counts = [], []
        for b, pts in enumerate(points):
            per_level = [self._level_codes(c[b], pts, s) for c, s in zip(codes, self.strides)]
            out_codes.append(torch.stack([m for m, _ in per_level], 1))
            out_counts.append(torch.stack([n for _, n in per_level], 1))
        return out_codes, out_counts

    def point_angles(self, codes: Sequence[Tensor], points: Sequence[Tensor]) -> List[Tensor]:
        """Angle of every point on every level (mean code of its positives, decoded).

        Args:
            codes (Sequence[Tensor]): per level (B, num_step, H_l, W_l).
            points (Sequence[Tensor]): per image (N_i, 2) pixel coordinates.

        Returns:
            list[Tensor]: per image (N_i, L) angles, radians in ``[-pi/2, pi/2)``.
        """
        mean_codes, _ = self.point_codes(codes, points)
        return [self.coder.decode(m) for m in mean_codes]

    def _object_codes(self, codes: Sequence[Tensor], points: Sequence[Tensor]) -> List[Tensor]:
        """Per image (N_i, G, num_step) codes compared by the loss: G = 1 (pooled) or L."""
        mean_codes, counts = self.point_codes(codes, points)
        if self.conf['loss_levels'] == 'per_level':
            return mean_codes
        pooled = []
        for m, n in zip(mean_codes, counts):
            # official: the mean over all positive cells of all levels = count-weighted mean
            wgt = n.to(m.dtype)
            wgt = torch.where(wgt.sum(1, keepdim=True) > 0, wgt, torch.ones_like(wgt))
            pooled.append(((m * wgt[..., None]).sum(1) / wgt.sum(1)[:, None])[:, None])
        return pooled

    # ----------------------------------------------------------------- loss
    def pseudo_loss(self, codes: Sequence[Tensor], points: Sequence[Tensor],
                    angles: Sequence[Tensor], labels: Sequence[Tensor],
                    loss_weight: float = 1.0) -> Tensor:
        """Self-training loss: dense-to-sparse codes regress to given (pseudo) angles.

        On every level, the mean code of the cells within ``pos_radius * stride`` of each
        point (as :meth:`point_codes`) is pulled (L1) toward ``PSCCoder.encode(angle)``;
        the angles are targets (detached). Rotation-agnostic classes are left out.

        Args:
            codes (Sequence[Tensor]): per level (B, num_step, H_l, W_l).
            points (Sequence[Tensor]): per image (N_i, 2) pixel coordinates.
            angles (Sequence[Tensor]): per image (N_i,) target angles, radians (pi period).
            labels (Sequence[Tensor]): per image (N_i,) class labels.
            loss_weight (float): multiplier.

        Returns:
            Tensor: scalar, the mean over objects, levels and code entries (0, attached to
            the graph, when no object is left).
        """
        if not (len(points) == len(angles) == len(labels)):
            raise ValueError(f'points, angles and labels must have one entry per image, got '
                             f'{len(points)}, {len(angles)}, {len(labels)}')
        mean_codes, _ = self.point_codes(codes, points)
        diffs = []
        for m, a, lab in zip(mean_codes, angles, labels):
            if a.shape != m.shape[:1] or lab.shape != m.shape[:1]:
                raise ValueError(f'angles and labels must be ({m.shape[0]},), got '
                                 f'{tuple(a.shape)} and {tuple(lab.shape)}')
            keep = torch.ones_like(lab, dtype=torch.bool)
            for c in self.agnostic_labels:
                keep &= lab != c
            # (N, 1) input: encode reads a trailing 1 as the angle axis, so an image with
            # one object, (1,), would lose its object axis
            target = self.coder.encode(a.detach().to(m.dtype)[:, None])[:, None, :]  # (N, 1, C)
            diffs.append((m - target).abs()[keep].reshape(-1))
        diff = torch.cat(diffs) if diffs else codes[0].new_zeros(0)
        if diff.numel() == 0:
            return sum(c.sum() for c in codes) * 0.0
        return diff.mean() * float(loss_weight)

    @staticmethod
    def _view_params(view: Dict) -> Tuple[float, bool]:
        if not isinstance(view, dict) or 'kind' not in view:
            raise ValueError(f"each view must be dict(kind='rotate', phi=...) or "
                             f"dict(kind='flip', direction='vertical'), got {view!r}")
        if view['kind'] == 'rotate':
            if 'phi' not in view:
                raise ValueError(f'a rotate view needs phi (radians), got {view!r}')
            return float(view['phi']), False
        if view['kind'] == 'flip':
            check_choice('view direction', view.get('direction', 'vertical'), FLIP_DIRECTIONS)
            return 0.0, True
        raise ValueError(f"view kind must be 'rotate' or 'flip', got {view['kind']!r}")

    def loss(self, codes_ori: Sequence[Tensor], codes_view: Sequence[Tensor],
             points_ori: Sequence[Tensor], points_view: Sequence[Tensor],
             labels: Sequence[Tensor], views: Sequence[Dict],
             valid: Optional[Sequence[Tensor]] = None) -> Dict[str, Tensor]:
        """Angle self-supervision between the original and the second view.

        Args:
            codes_ori (Sequence[Tensor]): per level (B, num_step, H_l, W_l), original view.
            codes_view (Sequence[Tensor]): the same for the second view (same B).
            points_ori (Sequence[Tensor]): per image (N_i, 2) points in the original view.
            points_view (Sequence[Tensor]): per image (N_i, 2) the same objects' points in
                the second view (same order).
            labels (Sequence[Tensor]): per image (N_i,) int class labels.
            views (Sequence[dict]): per image ``dict(kind='rotate', phi=<radians>)`` (content
                turned by phi, +x toward +y) or ``dict(kind='flip', direction='vertical')``.
            valid (Sequence[Tensor], optional): per image (N_i,) bool, False = the object
                left the second view (skipped). Default: all valid.

        Returns:
            dict: ``loss_angle`` (scalar; 0, still attached to the graph, when no pair
            is left).

        Raises:
            ValueError: on inconsistent lengths or shapes, or malformed views.
        """
        batch = len(points_ori)
        if not (len(points_view) == len(labels) == len(views) == batch):
            raise ValueError(f'points_ori, points_view, labels and views must have one entry '
                             f'per image ({batch}), got {len(points_view)}, {len(labels)}, '
                             f'{len(views)}')
        if valid is not None and len(valid) != batch:
            raise ValueError(f'valid must have {batch} entries, got {len(valid)}')
        theta_o, theta_v, phis, flips, weights = [], [], [], [], []
        obj_ori = self._object_codes(codes_ori, points_ori)
        obj_view = self._object_codes(codes_view, points_view)
        for b in range(batch):
            n = len(points_ori[b])
            if len(points_view[b]) != n or labels[b].shape != (n,):
                raise ValueError(f'image {b}: points_view must be ({n}, 2) and labels ({n},), '
                                 f'got {tuple(points_view[b].shape)} and {tuple(labels[b].shape)}')
            keep = torch.ones(n, dtype=torch.bool, device=labels[b].device)
            if valid is not None:
                if valid[b].shape != (n,):
                    raise ValueError(f'image {b}: valid must be ({n},), '
                                     f'got {tuple(valid[b].shape)}')
                keep = keep & valid[b].bool().to(keep.device)
            for c in self.agnostic_labels:
                keep = keep & (labels[b] != c)
            phi, flip = self._view_params(views[b])
            num_g = obj_ori[b].shape[1]
            theta_o.append(self.coder.decode(obj_ori[b]).reshape(-1))
            theta_v.append(self.coder.decode(obj_view[b]).reshape(-1))
            phis.append(torch.full((n * num_g,), phi, dtype=theta_o[-1].dtype,
                                   device=theta_o[-1].device))
            flips.append(torch.full((n * num_g,), flip, dtype=torch.bool,
                                    device=theta_o[-1].device))
            weights.append(keep[:, None].expand(n, num_g).reshape(-1).to(theta_o[-1]))
        weight = torch.cat(weights)
        if not bool((weight > 0).any()):
            # zero, attached to the graph (zero gradients) so every parameter is used
            return dict(loss_angle=sum(c.sum() for c in list(codes_ori) + list(codes_view)) * 0.0)
        loss = self.loss_angle(torch.cat(theta_o), torch.cat(theta_v), torch.cat(phis),
                               torch.cat(flips), weight=weight)
        return dict(loss_angle=loss)
