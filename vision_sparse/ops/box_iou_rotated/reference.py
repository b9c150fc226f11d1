"""Pure-PyTorch, differentiable reference of the rotated-box IoU, and the input
contract (checks, compute dtype) that the compiled path shares.

Box convention: see :mod:`vision_sparse.ops.box_iou_rotated`.
"""
import math
from typing import Tuple

import torch
from torch import Tensor

from .._checks import all_finite, finite_number

__all__ = ['box_iou_rotated_reference']

_MODES = {'iou': 0, 'iof': 1}
# Pairs per chunk of the reference (~1.5 kB of temporaries per float32 pair):
# a 2,000 x 2,000 call stays well under 1 GB.
_REF_CHUNK_PAIRS = 1 << 18


def _check_boxes(boxes, name: str, rows: str) -> None:
    if not isinstance(boxes, Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(boxes).__name__}')
    if boxes.dim() != 2 or boxes.shape[-1] != 5:
        raise ValueError(f'{name} must have shape ({rows}, 5) = (cx, cy, w, h, theta), '
                         f'got {tuple(boxes.shape)}')
    # one pass over the boxes: NaN / inf would give NaN in the reference and 0 in
    # the kernels (and a NaN centre or angle silently passes every test)
    if not all_finite(boxes):
        raise ValueError(f'{name} must be finite (no NaN or inf in cx, cy, w, h, theta)')


def _check_scale(boxes: Tensor, name: str, compute: torch.dtype) -> None:
    """|cx|, |cy|, w, h at most sqrt(max of the compute dtype) / 64, so that the
    products of coordinates of the polygon stay finite (else the reference gives NaN
    where the float64 kernels do not); e.g. ~2.9e17 for float32, ~2.1e152 for float64."""
    if boxes.numel() == 0:
        return
    lim = math.sqrt(torch.finfo(compute).max) / 64
    big = float(boxes.detach()[:, :4].abs().max())
    if big > lim:
        raise ValueError(f'{name}: |cx|, |cy|, w and h must be at most {lim:.3g} (products of '
                         f'coordinates must stay finite in {compute}), got {big:.3g}')


def _check_eps(eps) -> float:
    """eps: a finite number >= 0 (the lower bound of the IoU denominator)."""
    return finite_number(eps, 'eps', minimum=0)


def _check_inputs(boxes1, boxes2, aligned: bool, mode: str) -> None:
    _check_boxes(boxes1, 'boxes1', 'N')
    _check_boxes(boxes2, 'boxes2', 'N' if aligned else 'M')
    if mode not in _MODES:
        raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}")
    if boxes1.device != boxes2.device:
        raise ValueError(f'boxes1 and boxes2 must be on the same device, got '
                         f'{boxes1.device} and {boxes2.device}')
    if aligned and boxes1.shape[0] != boxes2.shape[0]:
        raise ValueError('aligned=True needs boxes1 and boxes2 of the same length, got '
                         f'{boxes1.shape[0]} and {boxes2.shape[0]}')
    comp = _compute_dtype(boxes1, boxes2)[0]
    _check_scale(boxes1, 'boxes1', comp)
    _check_scale(boxes2, 'boxes2', comp)


def _compute_dtype(boxes1: Tensor, boxes2: Tensor) -> Tuple[torch.dtype, torch.dtype]:
    """(dtype computed in, dtype returned): half types computed in float32."""
    out = torch.promote_types(boxes1.dtype, boxes2.dtype)
    if not out.is_floating_point:
        out = torch.get_default_dtype()
    comp = torch.float32 if out in (torch.float16, torch.bfloat16) else out
    return comp, out


def box_iou_rotated_reference(boxes1: Tensor, boxes2: Tensor, aligned: bool = False,
                              mode: str = 'iou', eps: float = 1e-6) -> Tensor:
    """Pure-PyTorch, differentiable :func:`~vision_sparse.ops.box_iou_rotated` (same
    arguments and result).

    The intersection polygon is built from 24 candidate vertices per pair (the
    corners of each box inside the other and the 16 edge-edge intersections),
    the valid ones sorted by angle around their mean, and its area taken with
    the shoelace formula.  Each pair is translated so that the centre of its
    box of boxes1 is at the origin.  Pairs are processed in chunks (memory is
    bounded when no gradient is recorded).
    """
    _check_inputs(boxes1, boxes2, aligned, mode)
    eps = _check_eps(eps)
    comp, out_dtype = _compute_dtype(boxes1, boxes2)
    b1 = boxes1.to(comp)
    b2 = boxes2.to(comp)
    n, m = b1.shape[0], b2.shape[0]
    if aligned:
        if n == 0:
            return b1.new_zeros((0,)).to(out_dtype)
        step = _REF_CHUNK_PAIRS
        out = [_iou_pairs(b1[i:i + step], b2[i:i + step], mode, eps)
               for i in range(0, n, step)]
        return torch.cat(out).to(out_dtype)
    if n == 0 or m == 0:
        return b1.new_zeros((n, m)).to(out_dtype)
    rows = max(1, _REF_CHUNK_PAIRS // m)
    out = []
    for i in range(0, n, rows):
        r1 = b1[i:i + rows]
        k = r1.shape[0]
        p1 = r1[:, None, :].expand(k, m, 5).reshape(k * m, 5)
        p2 = b2[None, :, :].expand(k, m, 5).reshape(k * m, 5)
        out.append(_iou_pairs(p1, p2, mode, eps).view(k, m))
    return torch.cat(out, 0).to(out_dtype)


# Corner signs, counter-clockwise (in the frame where theta turns +x toward +y).
_SX = (1.0, -1.0, -1.0, 1.0)
_SY = (1.0, 1.0, -1.0, -1.0)


def _cross(ax: Tensor, ay: Tensor, bx: Tensor, by: Tensor) -> Tensor:
    return ax * by - ay * bx


def _iou_pairs(b1: Tensor, b2: Tensor, mode: str, eps: float) -> Tensor:
    """IoU / IoF of the aligned pairs (P, 5), (P, 5) -> (P,)."""
    dtype, device = b1.dtype, b1.device
    feps = torch.finfo(dtype).eps
    tiny = torch.finfo(dtype).tiny
    x1, y1, w1, h1, t1 = b1.unbind(-1)
    x2, y2, w2, h2, t2 = b2.unbind(-1)
    valid = (w1 > 0) & (h1 > 0) & (w2 > 0) & (h2 > 0)
    zero = torch.zeros((), dtype=dtype, device=device)
    area1 = torch.where((w1 > 0) & (h1 > 0), w1 * h1, zero)
    area2 = torch.where((w2 > 0) & (h2 > 0), w2 * h2, zero)
    # Degenerate boxes are replaced by unit boxes (result masked below) so that
    # no NaN / inf appears, in values or gradients.
    one = torch.ones((), dtype=dtype, device=device)
    hw1 = torch.where(valid, w1, one) * 0.5
    hh1 = torch.where(valid, h1, one) * 0.5
    hw2 = torch.where(valid, w2, one) * 0.5
    hh2 = torch.where(valid, h2, one) * 0.5
    # Translate: centre of box 1 at the origin.
    dx = (x2 - x1)[:, None]
    dy = (y2 - y1)[:, None]
    c1, s1 = torch.cos(t1)[:, None], torch.sin(t1)[:, None]
    c2, s2 = torch.cos(t2)[:, None], torch.sin(t2)[:, None]
    sx = torch.tensor(_SX, dtype=dtype, device=device)
    sy = torch.tensor(_SY, dtype=dtype, device=device)
    lx1, ly1 = sx * hw1[:, None], sy * hh1[:, None]  # (P, 4) local corners
    lx2, ly2 = sx * hw2[:, None], sy * hh2[:, None]
    px1 = lx1 * c1 - ly1 * s1  # (P, 4) world corners, relative to centre 1
    py1 = lx1 * s1 + ly1 * c1
    px2 = lx2 * c2 - ly2 * s2 + dx
    py2 = lx2 * s2 + ly2 * c2 + dy

    # Tolerances: a few ulps of the pair's scale (corners on the other box's
    # boundary must count as inside; exactly parallel edges have no intersection).
    scale = (hw1 + hh1 + hw2 + hh2 + dx[:, 0].abs() + dy[:, 0].abs())[:, None]
    tol_in = 64 * feps * scale
    tol_t = 64 * feps

    # Corners of box 1 inside box 2 (in box 2's frame), and of box 2 inside box 1.
    qx, qy = px1 - dx, py1 - dy
    u = qx * c2 + qy * s2
    v = -qx * s2 + qy * c2
    in1 = (u.abs() <= hw2[:, None] + tol_in) & (v.abs() <= hh2[:, None] + tol_in)
    u = px2 * c1 + py2 * s1
    v = -px2 * s1 + py2 * c1
    in2 = (u.abs() <= hw1[:, None] + tol_in) & (v.abs() <= hh1[:, None] + tol_in)

    # Edge k of a box: corner k -> corner k+1.  (P, 4, 4) intersections of edge i
    # of box 1 (p + t r) with edge j of box 2 (q + u s).
    rx1 = px1.roll(-1, dims=1) - px1
    ry1 = py1.roll(-1, dims=1) - py1
    rx2 = px2.roll(-1, dims=1) - px2
    ry2 = py2.roll(-1, dims=1) - py2
    ex, ey = rx1[:, :, None], ry1[:, :, None]
    fx, fy = rx2[:, None, :], ry2[:, None, :]
    gx = px2[:, None, :] - px1[:, :, None]
    gy = py2[:, None, :] - py1[:, :, None]
    den = _cross(ex, ey, fx, fy)
    norm = torch.sqrt(ex * ex + ey * ey) * torch.sqrt(fx * fx + fy * fy)
    nonpar = den.abs() > tol_t * norm
    den_safe = torch.where(nonpar, den, one)
    t = _cross(gx, gy, fx, fy) / den_safe
    uu = _cross(gx, gy, ex, ey) / den_safe
    ok_edge = (nonpar & (t >= -tol_t) & (t <= 1 + tol_t)
               & (uu >= -tol_t) & (uu <= 1 + tol_t))
    ix = (px1[:, :, None] + t * ex).flatten(1)
    iy = (py1[:, :, None] + t * ey).flatten(1)

    vx = torch.cat([px1, px2, ix], 1)  # (P, 24)
    vy = torch.cat([py1, py2, iy], 1)
    mask = torch.cat([in1, in2, ok_edge.flatten(1)], 1)
    maskf = mask.to(dtype)
    cnt = maskf.sum(1, keepdim=True)
    mx = (vx * maskf).sum(1, keepdim=True) / cnt.clamp(min=1)
    my = (vy * maskf).sum(1, keepdim=True) / cnt.clamp(min=1)
    ax, ay = vx - mx, vy - my
    # atan2 (and its gradient) at a vertex on the mean is replaced by a dummy.
    far = (ax * ax + ay * ay) > tiny
    ang = torch.atan2(torch.where(far, ay, zero), torch.where(far, ax, one))
    ang = torch.where(mask, ang, torch.full_like(ang, 10.0))  # invalid ones last
    order = ang.argsort(dim=1)
    sx_ = ax.gather(1, order)
    sy_ = ay.gather(1, order)
    smask = mask.gather(1, order)
    # Invalid slots repeat the first vertex: the polygon closes and they add 0.
    sx_ = torch.where(smask, sx_, sx_[:, :1])
    sy_ = torch.where(smask, sy_, sy_[:, :1])
    area = 0.5 * _cross(sx_, sy_, sx_.roll(-1, dims=1), sy_.roll(-1, dims=1)).sum(1)
    inter = torch.minimum(area.clamp(min=0), torch.minimum(area1, area2))
    inter = torch.where(valid & (cnt[:, 0] >= 3), inter, zero)
    if mode == 'iof':
        denom = area1
    else:
        denom = area1 + area2 - inter
    # A zero denominator (eps = 0 with zero-area boxes) only occurs with inter = 0:
    # the result is 0 there, as in the kernels (never 0 / 0).
    denom = denom.clamp(min=eps)
    return inter / torch.where(denom > 0, denom, one)
