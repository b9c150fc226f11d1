"""Proposal bags around annotated points (PointOBB / P2BNet).

Stage 0 of PointOBB has only a point per object, so it scores a *bag* of boxes
centred on the point: ``len(base_scales) x len(base_ratios) x len(base_angles)``
boxes (10 x 7 x 1 = 70 by default), scale outer, ratio, then angle inner, so
``bag.view(N, S, R * A, 5)`` groups them by base scale (the SSC loss compares
views per base scale). Stage 1 scores boxes around the stage-0 pseudo box: its
width and height each scaled by the refinement ratios, and each of those shifted
by ``shift * side`` along the box axes.

Boxes are ``(cx, cy, w, h, theta)`` pixels / radians (see
:class:`~vision_sparse.structures.RotatedBoxes`).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from vision_sparse.ops import box_iou_rotated
from vision_sparse.registry import TASK_UTILS
from vision_sparse.utils.config import merge_conf

__all__ = ['PointBagGenerator', 'inside_fraction']


def inside_fraction(boxes: Tensor, img_shape: Tuple[int, int]) -> Tensor:
    """Fraction of each rotated box's area inside the image ``[0, w] x [0, h]``.

    Args:
        boxes (Tensor): (M, 5) rotated boxes.
        img_shape (tuple[int, int]): ``(h, w)``.

    Returns:
        Tensor: (M,) in [0, 1] (0 for boxes of zero area).
    """
    h, w = img_shape
    if boxes.numel() == 0:
        return boxes.new_zeros((0,))
    image = boxes.new_tensor([[w / 2, h / 2, w, h, 0.0]])
    return box_iou_rotated(boxes.detach().float(), image.float(), mode='iof')[:, 0].to(boxes.dtype)


@TASK_UTILS.register_module()
class PointBagGenerator:
    """Bags of proposals per point (stage 0) and refinement proposals (stage 1).

    Args:
        base_scales (list[float]): box scales in units of ``base_size`` (default
            PointOBB's ``[4, 8, 16, 24, 32, 48, 64, 72, 80, 96]``).
        base_ratios (list[float]): aspect ratios ``w / h``; a box of scale ``s`` and
            ratio ``r`` is ``w = s * r, h = s / r`` (default ``1/3 .. 3``, 7 ratios).
        base_angles (list[float]): angles (radians) of the stage-0 boxes, innermost
            (default ``(0,)``: horizontal bags, as PointOBB). Several angles let the
            MIL stage choose the orientation too (our addition: with ratios on both
            sides of 1, angles in ``[0, pi/2)`` cover every orientation).
        base_size (float | None): pixels per scale unit; None = ``max(h, w) / 100``
            of the image, as the official code.
        cut_mode (str): 'symmetry' (shrink each side so the box stays inside the
            image while centred on the point, as the official code) or 'none'.
        refine_ratios (list[float]): stage-1 factors of the pseudo box's w and h,
            every (w, h) pair (default ``[1, 1.2, 1.3, 0.8, 0.7]``: 25 boxes).
        refine_shifts (list[float]): stage-1 centre shifts, in units of the box
            side, each applied toward the 4 sides (default ``[0.1]``).
        min_inside (float): stage-1 (and rotated) proposals with less than this
            fraction of their area inside the image are invalid (official 0.8).
    """

    default_conf = dict(
        base_scales=(4, 8, 16, 24, 32, 48, 64, 72, 80, 96),
        base_ratios=(1 / 3, 1 / 2, 1 / 1.5, 1.0, 1.5, 2.0, 3.0),
        base_angles=(0.0,),
        base_size=None,
        cut_mode='symmetry',
        refine_ratios=(1.0, 1.2, 1.3, 0.8, 0.7),
        refine_shifts=(0.1,),
        min_inside=0.8,
    )

    def __init__(self, **conf):
        self.conf = merge_conf(self.default_conf, conf, type(self).__name__)
        c = self.conf
        for key in ('base_scales', 'base_ratios', 'refine_ratios'):
            vals = list(c[key])
            if not vals or not all(isinstance(v, (int, float)) and v > 0 for v in vals):
                raise ValueError(f'{key} must be a non-empty list of numbers > 0, got {c[key]}')
        if not len(c['base_angles']) or not all(isinstance(v, (int, float)) and abs(v) <= 3.1416
                                                  for v in c['base_angles']):
            raise ValueError(f'base_angles must be a non-empty list of radians in [-pi, pi], '
                             f'got {c["base_angles"]}')
        if not all(isinstance(v, (int, float)) and v >= 0 for v in c['refine_shifts']):
            raise ValueError(f'refine_shifts must be numbers >= 0, got {c["refine_shifts"]}')
        if c['cut_mode'] not in ('symmetry', 'none'):
            raise ValueError(f"cut_mode must be 'symmetry' or 'none', got {c['cut_mode']!r}")
        if c['base_size'] is not None and not c['base_size'] > 0:
            raise ValueError(f'base_size must be None or > 0, got {c["base_size"]}')
        self.num_scales = len(c['base_scales'])
        self.num_ratios = len(c['base_ratios'])
        self.num_angles = len(c['base_angles'])
        self.bag_size = self.num_scales * self.num_ratios * self.num_angles
        self.num_refine = len(c['refine_ratios']) ** 2 * (1 + 4 * len(c['refine_shifts']))

    def bags(self, points: Tensor, img_shape: Tuple[int, int],
             angles: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Stage-0 bags centred on the points.

        Args:
            points (Tensor): (N, 2) ``(x, y)`` pixels.
            img_shape (tuple[int, int]): ``(h, w)`` of the image.
            angles (Tensor, optional): (N,) one angle per point or (N, P) one per
                proposal (P = bag size), radians, added to ``base_angles``; default 0
                (horizontal bags). The symmetry cut is computed on the box at angle
                0, as the official code.

        Returns:
            tuple[Tensor, Tensor]: bags (N, P, 5) and valid (N, P) bool (boxes with at
            least ``min_inside`` of their area in the image; all of them for
            horizontal boxes after the symmetry cut).
        """
        if points.dim() != 2 or points.shape[-1] != 2:
            raise ValueError(f'points must be (N, 2), got {tuple(points.shape)}')
        c = self.conf
        h, w = img_shape
        base = c['base_size'] if c['base_size'] is not None else max(h, w) / 100.0
        scales = points.new_tensor(c['base_scales']) * base
        ratios = points.new_tensor(c['base_ratios'])
        n_ang = self.num_angles
        # scale outer, ratio, angle inner
        ws = (scales[:, None] * ratios[None, :]).reshape(-1).repeat_interleave(n_ang)
        hs = (scales[:, None] / ratios[None, :]).reshape(-1).repeat_interleave(n_ang)
        base_theta = points.new_tensor(c['base_angles']).repeat(scales.numel() * ratios.numel())
        n, p = points.shape[0], ws.numel()
        ws = ws.expand(n, p)
        hs = hs.expand(n, p)
        x, y = points[:, :1], points[:, 1:]
        if c['cut_mode'] == 'symmetry':
            ws = torch.minimum(ws, torch.minimum(2 * x, 2 * (w - x)).clamp(min=0))
            hs = torch.minimum(hs, torch.minimum(2 * y, 2 * (h - y)).clamp(min=0))
        theta = base_theta.expand(n, p)
        if angles is not None:
            theta = theta + (angles[:, None] if angles.dim() == 1 else angles)
        bags = torch.stack([x.expand(n, p), y.expand(n, p), ws, hs, theta], dim=-1)
        valid = (ws > 0) & (hs > 0)
        if (angles is not None or n_ang > 1 or c['base_angles'][0] != 0) and n:
            valid &= self._inside(bags, img_shape)
        return bags, valid

    def _inside(self, boxes: Tensor, img_shape: Tuple[int, int]) -> Tensor:
        frac = inside_fraction(boxes.reshape(-1, 5), img_shape).reshape(boxes.shape[:-1])
        return frac > self.conf['min_inside']

    def refine(self, boxes: Tensor, img_shape: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
        """Stage-1 proposals around boxes (the stage-0 pseudo boxes).

        Args:
            boxes (Tensor): (N, 5) rotated boxes.
            img_shape (tuple[int, int]): ``(h, w)``.

        Returns:
            tuple[Tensor, Tensor]: proposals (N, Q, 5) and valid (N, Q) bool, with
            ``Q = len(refine_ratios)^2 * (1 + 4 * len(refine_shifts))``: first the
            unshifted (w, h) variants (w ratio outer), then per shift the
            left/right/up/down shifted copies of each.
        """
        if boxes.dim() != 2 or boxes.shape[-1] != 5:
            raise ValueError(f'boxes must be (N, 5), got {tuple(boxes.shape)}')
        c = self.conf
        r = boxes.new_tensor(c['refine_ratios'])
        rw = r[:, None].expand(len(r), len(r)).reshape(-1)
        rh = r[None, :].expand(len(r), len(r)).reshape(-1)
        base = boxes[:, None, :].repeat(1, rw.numel(), 1)
        base[..., 2] = base[..., 2] * rw
        base[..., 3] = base[..., 3] * rh
        out = [base]
        cos, sin = torch.cos(base[..., 4]), torch.sin(base[..., 4])
        for shift in c['refine_shifts']:
            dw, dh = shift * base[..., 2], shift * base[..., 3]
            # along the box axes: w-axis (cos, sin), h-axis (-sin, cos)
            for sx, sy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                moved = base.clone()
                moved[..., 0] = base[..., 0] + sx * dw * cos - sy * dh * sin
                moved[..., 1] = base[..., 1] + sx * dw * sin + sy * dh * cos
                out.append(moved)
        props = torch.cat(out, dim=1)
        valid = (props[..., 2] > 0) & (props[..., 3] > 0)
        if props.shape[0]:
            valid &= self._inside(props, img_shape)
        return props, valid

    __call__ = bags

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scales={list(self.conf["base_scales"])}, '
                f'ratios={[round(v, 3) for v in self.conf["base_ratios"]]})')
