"""The extra views of PointOBB, at tensor level and batched.

PointOBB learns from the agreement of one image with transformed copies of itself:

* a **resized** view (scale ``s``): the scale-sensitive consistency (SSC) of the MIL
  scores;
* a **rotated** view (angle ``phi`` about the image centre, size kept) or a
  **flipped** view: the self-supervised angle loss.

Each function moves the image batch, the annotated points and (optionally) rotated
boxes ``(cx, cy, w, h, theta)`` consistently. Coordinates are continuous pixel
coordinates (x right, y down, pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``), theta
in radians turning +x toward +y (clockwise on screen), as
:class:`~vision_sparse.structures.RotatedBoxes`. Under a rotation by ``phi`` a box
angle becomes ``theta + phi``; under a mirror it becomes ``-theta``. Angles are
returned wrapped to ``[-pi/2, pi/2)`` ('le90').
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['resize_view', 'rotate_view', 'flip_view', 'rotate_boxes', 'flip_boxes', 'wrap_angle']


def wrap_angle(theta: Tensor) -> Tensor:
    """Wrap angles (radians) to ``[-pi/2, pi/2)`` (the pi period of a box angle)."""
    return torch.remainder(theta + math.pi / 2, math.pi) - math.pi / 2


def _check_images(images: Tensor) -> None:
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f'images must be a floating (B, C, H, W) tensor, got {shape}')


def _check_lists(images: Tensor, points: Sequence[Tensor],
                 boxes: Optional[Sequence[Tensor]]) -> None:
    for name, items, dim in (('points', points, 2), ('boxes', boxes, 5)):
        if items is None:
            continue
        if len(items) != images.shape[0]:
            raise ValueError(f'{name} must hold one (N_i, {dim}) tensor per image '
                             f'({images.shape[0]}), got {len(items)}')
        for t in items:
            if t.dim() != 2 or t.shape[-1] != dim:
                raise ValueError(f'{name} must be (N_i, {dim}) tensors, got {tuple(t.shape)}')


def resize_view(images: Tensor, points: Sequence[Tensor], scale: float,
                boxes: Optional[Sequence[Tensor]] = None, mode: str = 'bilinear'
                ) -> Tuple[Tensor, List[Tensor], Optional[List[Tensor]], Tuple[float, float]]:
    """Resize a batch by ``scale``.

    The output size is ``round(H * scale) x round(W * scale)``; coordinates are scaled
    by the exact per-axis factors ``(W' / W, H' / H)``, box sides by their mean.

    Args:
        images (Tensor): (B, C, H, W) floating images.
        points (list[Tensor]): per image (N_i, 2) ``(x, y)`` pixels.
        scale (float): > 0.
        boxes (list[Tensor], optional): per image (M_i, 5) rotated boxes.
        mode (str): interpolation of ``F.interpolate`` ('bilinear' or 'nearest').

    Returns:
        tuple: resized images (B, C, H', W'), points, boxes (or None) and the per-axis
        factors ``(sx, sy)``.

    Raises:
        ValueError: bad shapes or a non-positive / non-finite ``scale``.
    """
    _check_images(images)
    _check_lists(images, points, boxes)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f'scale must be a finite number > 0, got {scale}')
    h, w = images.shape[-2:]
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    sx, sy = nw / w, nh / h
    kwargs = dict(align_corners=False) if mode != 'nearest' else {}
    out = F.interpolate(images, size=(nh, nw), mode=mode, **kwargs)
    new_points = [p * p.new_tensor([sx, sy]) for p in points]
    new_boxes = None
    if boxes is not None:
        new_boxes = []
        for b in boxes:
            b = b.clone()
            b[:, 0] *= sx
            b[:, 1] *= sy
            b[:, 2:4] *= (sx + sy) / 2
            new_boxes.append(b)
    return out, new_points, new_boxes, (sx, sy)


def _rotation(phi: Tensor) -> Tensor:
    """(B,) angles -> (B, 2, 2) matrices ``[[cos, -sin], [sin, cos]]``."""
    c, s = torch.cos(phi), torch.sin(phi)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def rotate_boxes(boxes: Tensor, phi: Union[float, Tensor], size: Tuple[int, int]) -> Tensor:
    """(..., 5) rotated boxes of an image of ``size = (H, W)`` moved as :func:`rotate_view`
    moves its content: centres to ``c + R(phi) (p - c)``, ``c = (W/2, H/2)``, angles
    ``theta + phi`` (wrapped)."""
    h, w = size
    phi_t = torch.as_tensor(phi, dtype=boxes.dtype, device=boxes.device)
    r = _rotation(phi_t.reshape(1))[0]
    centre = boxes.new_tensor([w / 2.0, h / 2.0])
    out = boxes.clone()
    out[..., :2] = (boxes[..., :2] - centre) @ r.T + centre
    out[..., 4] = wrap_angle(boxes[..., 4] + phi_t)
    return out


def flip_boxes(boxes: Tensor, direction: str, size: Tuple[int, int]) -> Tensor:
    """(..., 5) rotated boxes of an image of ``size = (H, W)`` mirrored as
    :func:`flip_view` mirrors it ('vertical': ``y -> H - y``, 'horizontal': ``x -> W - x``;
    angles ``-theta``)."""
    h, w = size
    axis, extent = (1, h) if direction == 'vertical' else (0, w)
    out = boxes.clone()
    out[..., axis] = extent - boxes[..., axis]
    out[..., 4] = wrap_angle(-boxes[..., 4])
    return out


def rotate_view(images: Tensor, points: Sequence[Tensor], phi: Union[float, Tensor],
                boxes: Optional[Sequence[Tensor]] = None,
                img_shapes: Optional[Sequence[Tuple[int, int]]] = None,
                padding_mode: str = 'zeros'
                ) -> Tuple[Tensor, List[Tensor], Optional[List[Tensor]], List[Tensor]]:
    """Rotate each image by ``phi`` about the centre of the batch tensor, size kept.

    A point ``p`` moves to ``c + R(phi) (p - c)`` with ``c = (W/2, H/2)`` and
    ``R = [[cos, -sin], [sin, cos]]`` (clockwise on screen for ``phi > 0``, the
    direction in which box angles grow); box angles become ``theta + phi``.

    Args:
        images (Tensor): (B, C, H, W) floating images (padded batch).
        points (list[Tensor]): per image (N_i, 2) pixels.
        phi (float | Tensor): one angle for all images or (B,) angles, radians.
        boxes (list[Tensor], optional): per image (M_i, 5) rotated boxes.
        img_shapes (list[tuple[int, int]], optional): per image ``(h, w)`` of the
            valid (unpadded) region; default the tensor size.
        padding_mode (str): ``grid_sample`` padding of the uncovered corners
            ('zeros', 'border' or 'reflection').

    Returns:
        tuple: rotated images (B, C, H, W), points, boxes (or None), and per image an
        (N_i,) bool ``valid``: the rotated point lies inside the tensor and comes from
        inside the valid region of the source image.
    """
    _check_images(images)
    _check_lists(images, points, boxes)
    b, _, h, w = images.shape
    phi_t = torch.as_tensor(phi, dtype=images.dtype, device=images.device).reshape(-1)
    if phi_t.numel() == 1:
        phi_t = phi_t.expand(b)
    if phi_t.numel() != b or not torch.isfinite(phi_t).all():
        raise ValueError(f'phi must be one finite angle or ({b},) finite angles')
    rot = _rotation(phi_t)  # (B, 2, 2): source -> view
    # grid_sample maps output normalised coords to input ones: p_src = c + R^T (p_out - c)
    # in pixels; in normalised coordinates x_n = 2 x / W - 1 this needs the aspect ratio.
    to_norm = images.new_tensor([2.0 / w, 2.0 / h])
    inv = rot.transpose(1, 2)
    theta = inv * to_norm[None, :, None] / to_norm[None, None, :]
    affine = torch.cat([theta, images.new_zeros(b, 2, 1)], dim=2)
    grid = F.affine_grid(affine, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode='bilinear', padding_mode=padding_mode,
                        align_corners=False)
    centre = images.new_tensor([w / 2.0, h / 2.0])
    new_points, valids, new_boxes = [], [], [] if boxes is not None else None
    for i, p in enumerate(points):
        r = rot[i].to(p.dtype)
        q = (p - centre.to(p.dtype)) @ r.T + centre.to(p.dtype)
        vh, vw = img_shapes[i] if img_shapes is not None else (h, w)
        inside_view = (q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)
        inside_src = (p[:, 0] >= 0) & (p[:, 0] < vw) & (p[:, 1] >= 0) & (p[:, 1] < vh)
        new_points.append(q)
        valids.append(inside_view & inside_src & torch.isfinite(q).all(-1))
        if boxes is not None:
            new_boxes.append(rotate_boxes(boxes[i], phi_t[i], (h, w)))
    return out, new_points, new_boxes, valids


def flip_view(images: Tensor, points: Sequence[Tensor], direction: str = 'vertical',
              boxes: Optional[Sequence[Tensor]] = None
              ) -> Tuple[Tensor, List[Tensor], Optional[List[Tensor]]]:
    """Mirror a batch: 'vertical' (y -> H - y) or 'horizontal' (x -> W - x).

    Box angles become ``-theta`` (a mirror reverses the turning direction).

    Args:
        images (Tensor): (B, C, H, W) floating images.
        points (list[Tensor]): per image (N_i, 2) pixels.
        direction (str): 'vertical' or 'horizontal'.
        boxes (list[Tensor], optional): per image (M_i, 5) rotated boxes.

    Returns:
        tuple: flipped images, points, boxes (or None).
    """
    _check_images(images)
    _check_lists(images, points, boxes)
    if direction not in ('vertical', 'horizontal'):
        raise ValueError(f"direction must be 'vertical' or 'horizontal', got {direction!r}")
    h, w = images.shape[-2:]
    axis, size, dim = (1, h, -2) if direction == 'vertical' else (0, w, -1)
    out = images.flip(dim)
    new_points = []
    for p in points:
        q = p.clone()
        q[:, axis] = size - q[:, axis]
        new_points.append(q)
    new_boxes = None if boxes is None else [flip_boxes(bx, direction, (h, w)) for bx in boxes]
    return out, new_points, new_boxes
