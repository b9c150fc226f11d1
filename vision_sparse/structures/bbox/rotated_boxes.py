"""Rotated 2-D boxes ``(cx, cy, w, h, theta)`` and their conversions.

Conventions (used everywhere in vision_sparse):

* A rotated box is ``(cx, cy, w, h, theta)``: centre ``(cx, cy)`` and side lengths
  ``w``, ``h`` in pixels (or metres for bird's-eye-view boxes), ``theta`` in
  **radians**.
* ``theta`` rotates from ``+x`` toward ``+y``. In image coordinates (x right,
  y down) that is **clockwise on screen**; in a right-handed metric plane
  (x forward, y left, e.g. the LiDAR BEV plane) it is counter-clockwise.
* ``w`` is the side along the direction ``(cos theta, sin theta)``, ``h`` the side
  along ``(-sin theta, cos theta)``. The four corners are
  ``centre + R(theta) @ (sx * w / 2, sy * h / 2)`` with
  ``R = [[cos, -sin], [sin, cos]]`` and ``(sx, sy)`` taking, in this order,
  ``(-1, -1), (+1, -1), (+1, +1), (-1, +1)``. For ``theta = 0`` in an image this
  is top-left, top-right, bottom-right, bottom-left: clockwise on screen, the
  order of DOTA labels (``x1 y1 ... x4 y4``). The edge from corner 0 to corner
  1 points along ``theta`` and has length ``w``; the edge corner 1 -> corner 2 is
  the "front" end (``+w/2``) of the box.
* Canonical angle ranges (``regularize_boxes``):

  - ``'le90'`` (default): ``theta`` in ``[-pi/2, pi/2)``, ``w``/``h`` kept (a box
    and the same box turned by ``pi`` are identical, so only a wrap is needed).
  - ``'le135'``: ``theta`` in ``[-pi/4, 3*pi/4)``, ``w``/``h`` kept.
  - ``'oc'``: ``theta`` in ``(0, pi/2]``; a quarter turn swaps ``w`` and ``h``.

  ``width_longer=True`` additionally makes ``w >= h`` for ``'le90'``/``'le135'``
  (the mmrotate meaning of those names) by swapping sides and adding ``pi/2``.

Box type registration: :class:`RotatedBoxes` is registered in mmdet's box type
registry under the name ``'rbox'``. If another package (e.g. mmrotate) already
registered a different class as ``'rbox'``, it is registered as ``'vs_rbox'``
instead; :data:`RBOX_NAME` holds the name that was used. Converters
``hbox <-> RBOX_NAME`` are registered too, so ``HorizontalBoxes.convert_to(
RBOX_NAME)`` works.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch import BoolTensor, Tensor

from mmdet.structures.bbox import (BaseBoxes, HorizontalBoxes, register_box,
                                   register_box_converter)
from mmdet.structures.bbox.box_type import box_types
from mmdet.structures.mask.structures import BitmapMasks, PolygonMasks

__all__ = [
    'regularize_boxes', 'rbox2corners', 'rbox2poly', 'rbox2hbox', 'hbox2rbox', 'poly2rbox', 'points2rbox', 'RotatedBoxes'
]

ArrayLike = Union[Tensor, np.ndarray]
DeviceType = Union[str, torch.device]
MaskType = Union[BitmapMasks, PolygonMasks]

ANGLE_PATTERNS = ('le90', 'le135', 'oc')

# Sign pattern of the corners in the box frame, in output order.
_CORNER_SIGNS = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _to_tensor(data: ArrayLike, name: str) -> Tuple[Tensor, bool]:
    """Return ``(tensor, was_numpy)``; integer inputs become float32."""
    if isinstance(data, np.ndarray):
        tensor, was_numpy = torch.from_numpy(np.ascontiguousarray(data)), True
    elif isinstance(data, Tensor):
        tensor, was_numpy = data, False
    else:
        raise TypeError(f'{name} must be a torch.Tensor or np.ndarray, '
                        f'got {type(data).__name__}')
    if not tensor.is_floating_point():
        tensor = tensor.float()
    return tensor, was_numpy


def _back(tensor: Tensor, was_numpy: bool) -> ArrayLike:
    return tensor.numpy() if was_numpy else tensor


def _check_last_dim(tensor: Tensor, dim: int, name: str) -> None:
    if tensor.dim() < 1 or tensor.shape[-1] != dim:
        raise ValueError(f'{name} must have shape (..., {dim}), '
                         f'got {tuple(tensor.shape)}')


def _wrap(theta: Tensor, start: float, period: float) -> Tensor:
    """Wrap angles into ``[start, start + period)``."""
    wrapped = torch.remainder(theta - start, period) + start
    # remainder can return exactly `period` for tiny negative inputs
    return torch.where(wrapped >= start + period, wrapped - period, wrapped)


# --------------------------------------------------------------------------
# functional API
# --------------------------------------------------------------------------
def regularize_boxes(boxes: ArrayLike,
                     pattern: str = 'le90',
                     width_longer: bool = False) -> ArrayLike:
    """Bring rotated boxes to a canonical angle range (same rectangles).

    Args:
        boxes (Tensor | np.ndarray): ``(..., 5)`` boxes ``(cx, cy, w, h, theta)``,
            theta in radians.
        pattern (str): ``'le90'`` -> theta in ``[-pi/2, pi/2)``; ``'le135'`` ->
            ``[-pi/4, 3pi/4)``; ``'oc'`` -> ``(0, pi/2]`` (w/h swapped when a
            quarter turn is needed).
        width_longer (bool): for ``'le90'``/``'le135'`` also enforce ``w >= h``
            (swapping sides and adding ``pi/2`` where needed). Ignored for
            ``'oc'``.

    Returns:
        Tensor | np.ndarray: ``(..., 5)`` boxes, same type/dtype as the input,
        describing exactly the same point sets (the same four corners).

    Raises:
        ValueError: if the last dimension is not 5 or ``pattern`` is unknown.
    """
    if pattern not in ANGLE_PATTERNS:
        raise ValueError(f'pattern must be one of {ANGLE_PATTERNS}, '
                         f'got {pattern!r}')
    tensor, was_numpy = _to_tensor(boxes, 'boxes')
    _check_last_dim(tensor, 5, 'boxes')
    if tensor.numel() == 0:
        return _back(tensor.clone(), was_numpy)
    cx, cy, w, h, theta = tensor.unbind(-1)
    half_pi = math.pi / 2
    if pattern == 'oc':
        # number of quarter turns k such that theta - k*pi/2 is in (0, pi/2]
        k = torch.ceil(theta / half_pi) - 1
        theta = theta - k * half_pi
        # guard against rounding at the interval ends
        low, high = theta <= 0, theta > half_pi
        theta = torch.where(low, theta + half_pi, theta)
        theta = torch.where(high, theta - half_pi, theta)
        k = k - low.to(k.dtype) + high.to(k.dtype)
        odd = torch.remainder(k, 2) == 1  # an odd number of quarter turns
        w, h = torch.where(odd, h, w), torch.where(odd, w, h)
    else:
        if width_longer:
            swap = w < h
            w, h = torch.where(swap, h, w), torch.where(swap, w, h)
            theta = torch.where(swap, theta + half_pi, theta)
        start = -half_pi if pattern == 'le90' else -math.pi / 4
        theta = _wrap(theta, start, math.pi)
    out = torch.stack([cx, cy, w, h, theta], dim=-1)
    return _back(out, was_numpy)


def rbox2corners(boxes: ArrayLike) -> ArrayLike:
    """Corners of rotated boxes.

    Args:
        boxes (Tensor | np.ndarray): ``(..., 5)`` boxes ``(cx, cy, w, h, theta)``.

    Returns:
        Tensor | np.ndarray: ``(..., 4, 2)`` corners ``(x, y)`` in the order
        ``centre + R(theta) @ (sx*w/2, sy*h/2)`` with ``(sx, sy)`` =
        ``(-,-), (+,-), (+,+), (-,+)`` (top-left, top-right, bottom-right,
        bottom-left for theta = 0 in an image; DOTA order).

    Raises:
        ValueError: if the last dimension is not 5.
    """
    tensor, was_numpy = _to_tensor(boxes, 'boxes')
    _check_last_dim(tensor, 5, 'boxes')
    ctr = tensor[..., :2]
    w, h, theta = tensor[..., 2], tensor[..., 3], tensor[..., 4]
    cos, sin = torch.cos(theta), torch.sin(theta)
    signs = tensor.new_tensor(_CORNER_SIGNS)  # (4, 2)
    dx = signs[:, 0] * (w[..., None] / 2)  # (..., 4)
    dy = signs[:, 1] * (h[..., None] / 2)
    x = ctr[..., 0:1] + cos[..., None] * dx - sin[..., None] * dy
    y = ctr[..., 1:2] + sin[..., None] * dx + cos[..., None] * dy
    return _back(torch.stack([x, y], dim=-1), was_numpy)


def rbox2poly(boxes: ArrayLike) -> ArrayLike:
    """Rotated boxes to 8-coordinate polygons ``x1 y1 x2 y2 x3 y3 x4 y4``.

    Args:
        boxes (Tensor | np.ndarray): ``(..., 5)`` boxes.

    Returns:
        Tensor | np.ndarray: ``(..., 8)``, corners in :func:`rbox2corners` order.
    """
    corners = rbox2corners(boxes)
    return corners.reshape(*corners.shape[:-2], 8)


def rbox2hbox(boxes: ArrayLike) -> ArrayLike:
    """Axis-aligned boxes ``(x1, y1, x2, y2)`` enclosing rotated boxes.

    Args:
        boxes (Tensor | np.ndarray): ``(..., 5)`` boxes.

    Returns:
        Tensor | np.ndarray: ``(..., 4)`` xyxy boxes (tight bounding boxes).
    """
    tensor, was_numpy = _to_tensor(boxes, 'boxes')
    _check_last_dim(tensor, 5, 'boxes')
    cx, cy, w, h, theta = tensor.unbind(-1)
    cos, sin = torch.cos(theta).abs(), torch.sin(theta).abs()
    half_x = (w * cos + h * sin) / 2
    half_y = (w * sin + h * cos) / 2
    out = torch.stack([cx - half_x, cy - half_y, cx + half_x, cy + half_y], -1)
    return _back(out, was_numpy)


def hbox2rbox(boxes: ArrayLike) -> ArrayLike:
    """Axis-aligned xyxy boxes to rotated boxes with ``theta = 0``.

    Args:
        boxes (Tensor | np.ndarray): ``(..., 4)`` boxes ``(x1, y1, x2, y2)``.

    Returns:
        Tensor | np.ndarray: ``(..., 5)`` boxes ``(cx, cy, x2-x1, y2-y1, 0)``.
    """
    tensor, was_numpy = _to_tensor(boxes, 'boxes')
    _check_last_dim(tensor, 4, 'boxes')
    x1, y1, x2, y2 = tensor.unbind(-1)
    out = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1,
                       torch.zeros_like(x1)], -1)
    return _back(out, was_numpy)


def _min_area_rects(point_sets: Sequence[np.ndarray]) -> np.ndarray:
    """Minimum-area enclosing rectangles of point sets, in float64.

    :func:`cv2.minAreaRect` (rotating calipers on the convex hull) finds each
    rectangle, in float32. One side of a minimum-area rectangle is collinear
    with an edge of the convex hull, so the hull edge whose direction is
    closest to OpenCV's (modulo a quarter turn) gives the exact orientation;
    extents and centre are then projected in float64 from the hull vertices
    (a subset of the input points), so exact inputs (e.g. the corners of a
    float64 rectangle) give exact outputs.

    Args:
        point_sets (Sequence[np.ndarray]): ``N`` float64 point sets
            ``(K_i, 2)``, ``K_i >= 1`` (or one ``(N, K, 2)`` array).

    Returns:
        np.ndarray: ``(N, 5)`` ``(cx, cy, w, h, alpha)``: ``alpha`` is the
        direction of the ``w`` side, OpenCV's width side. A set of equal
        points gives ``w = h = 0``, ``alpha = 0``.
    """
    n = len(point_sets)
    hulls, target = [], np.empty(n)
    sets32 = (point_sets.astype(np.float32) if isinstance(
        point_sets, np.ndarray) else [p.astype(np.float32) for p in point_sets])
    for i, (pts, pts32) in enumerate(zip(point_sets, sets32)):
        idx = cv2.convexHull(pts32, returnPoints=False)[:, 0]
        hulls.append(pts[idx])
        target[i] = math.radians(cv2.minAreaRect(pts32[idx])[2])
    sizes = np.array([len(h) for h in hulls])
    inside = np.arange(sizes.max())[None] < sizes[:, None]  # (N, M)
    hull = np.zeros((n, sizes.max(), 2))
    hull[inside] = np.concatenate(hulls)
    # hull edge k goes from vertex k to vertex k + 1 (cyclic)
    nxt = (np.arange(sizes.max())[None] + 1) % sizes[:, None]
    edges = np.take_along_axis(hull, nxt[..., None], axis=1) - hull
    ang = np.arctan2(edges[..., 1], edges[..., 0])
    quarter = math.pi / 2
    off = np.abs(np.remainder(ang - target[:, None] + quarter / 2, quarter) -
                 quarter / 2)
    off[~inside | ~np.any(edges != 0, axis=-1)] = np.inf
    alpha = np.take_along_axis(ang, off.argmin(1)[:, None], axis=1)[:, 0]
    # keep OpenCV's choice of the w side (the axis nearer to its angle)
    other = np.abs(np.remainder(alpha - target + quarter, math.pi) -
                   quarter) > quarter / 2
    alpha = np.where(other, alpha + quarter, alpha)
    alpha[np.isinf(off.min(1))] = 0.0  # all points equal: no edge
    c, s = np.cos(alpha)[:, None], np.sin(alpha)[:, None]
    u = hull[..., 0] * c + hull[..., 1] * s
    v = -hull[..., 0] * s + hull[..., 1] * c
    u_min, u_max = np.where(inside, u, np.inf).min(1), np.where(
        inside, u, -np.inf).max(1)
    v_min, v_max = np.where(inside, v, np.inf).min(1), np.where(
        inside, v, -np.inf).max(1)
    uc, vc = (u_min + u_max) / 2, (v_min + v_max) / 2
    c, s = c[:, 0], s[:, 0]
    return np.stack([uc * c - vc * s, uc * s + vc * c, u_max - u_min,
                     v_max - v_min, alpha], -1)


def _fit_rect(points: Sequence[np.ndarray],
              first_dir: Optional[Tensor]) -> Tensor:
    """Minimum-area rectangles of point sets (float64).

    Args:
        points (Sequence[np.ndarray]): ``N`` float64 point sets ``(K_i, 2)``,
            ``K_i >= 1``.
        first_dir (Tensor, optional): ``(N,)`` preferred direction (radians) of
            the ``w`` side; the rectangle's ``theta`` is chosen (modulo the
            rectangle symmetries) as close as possible to it. If None,
            OpenCV's ``w`` side is kept (see :func:`_min_area_rects`).

    Returns:
        Tensor: ``(N, 5)`` float64 boxes, theta in ``[-pi, pi)``
        unregularized.
    """
    rects = torch.from_numpy(_min_area_rects(points))
    cx, cy, ext_u, ext_v, alpha = rects.unbind(-1)
    if first_dir is None:
        first_dir = alpha
    # choose the w axis: alpha or alpha + pi/2, whichever is closer (mod pi)
    # to the preferred direction; then the turn (+0 or +pi) closest to it.
    d = torch.remainder(first_dir - alpha, math.pi)
    quarter = (d >= math.pi / 4) & (d < 3 * math.pi / 4)
    theta = torch.where(quarter, alpha + math.pi / 2, alpha)
    w = torch.where(quarter, ext_v, ext_u)
    h = torch.where(quarter, ext_u, ext_v)
    turn = _wrap(first_dir - theta, -math.pi, 2 * math.pi).abs() > math.pi / 2
    theta = _wrap(torch.where(turn, theta + math.pi, theta), -math.pi,
                  2 * math.pi)
    return torch.stack([cx, cy, w, h, theta], dim=-1)


def poly2rbox(polys: ArrayLike,
              pattern: Optional[str] = 'le90') -> ArrayLike:
    """Minimum-area rotated rectangles of quadrilaterals (DOTA polygons).

    The ``w`` side of each output box is the rectangle side most parallel to the
    polygon's first edge (``p1 -> p2``), so a clockwise-on-screen rectangle
    ``p1..p4`` is reproduced exactly, corner for corner, by
    ``rbox2poly(poly2rbox(p, pattern=None))`` and up to a cyclic shift of the
    corners with any ``pattern``. Computed with torch in float64 (no OpenCV),
    returned in the input dtype.

    Args:
        polys (Tensor | np.ndarray): ``(N, 8)`` ``x1 y1 ... x4 y4`` or
            ``(N, 4, 2)`` polygons, pixels.
        pattern (str, optional): angle range of the output
            (see :func:`regularize_boxes`); ``None`` keeps ``theta`` in
            ``[-pi, pi)`` pointing along ``p1 -> p2``.

    Returns:
        Tensor | np.ndarray: ``(N, 5)`` boxes ``(cx, cy, w, h, theta)``.
        An empty input gives a ``(0, 5)`` output. Degenerate polygons (all
        points equal) give ``w = h = 0``.

    Raises:
        ValueError: if the shape is not ``(N, 8)`` / ``(N, 4, 2)``.
    """
    tensor, was_numpy = _to_tensor(polys, 'polys')
    if tensor.dim() == 3 and tensor.shape[1:] == (4, 2):
        tensor = tensor.reshape(-1, 8)
    if tensor.dim() != 2 or tensor.shape[1] != 8:
        raise ValueError('polys must have shape (N, 8) or (N, 4, 2), '
                         f'got {tuple(tensor.shape)}')
    dtype = tensor.dtype
    if tensor.shape[0] == 0:
        return _back(tensor.new_zeros((0, 5)), was_numpy)
    pts = tensor.detach().cpu().to(torch.float64).reshape(-1, 4, 2)
    edge = pts[:, 1] - pts[:, 0]
    first_dir = torch.atan2(edge[:, 1], edge[:, 0])
    out = _fit_rect(pts.numpy(), first_dir).to(tensor.device)
    if pattern is not None:
        out = regularize_boxes(out, pattern)
    return _back(out.to(dtype), was_numpy)


def points2rbox(points: ArrayLike, pattern: str = 'le90') -> ArrayLike:
    """Minimum-area rotated rectangle of one arbitrary 2-D point set.

    Args:
        points (Tensor | np.ndarray): ``(K, 2)`` points, ``K >= 1``.
        pattern (str): angle range of the output.

    Returns:
        Tensor | np.ndarray: ``(5,)`` box. ``K == 0`` gives all zeros.

    Raises:
        ValueError: if ``points`` is not ``(K, 2)``.
    """
    tensor, was_numpy = _to_tensor(points, 'points')
    if tensor.dim() != 2 or tensor.shape[1] != 2:
        raise ValueError(f'points must have shape (K, 2), '
                         f'got {tuple(tensor.shape)}')
    if tensor.shape[0] == 0:
        return _back(tensor.new_zeros(5), was_numpy)
    pts = tensor.detach().cpu().to(torch.float64).numpy()
    out = _fit_rect([pts], None)[0]
    out = regularize_boxes(out, pattern)
    return _back(out.to(tensor.dtype).to(tensor.device), was_numpy)


# --------------------------------------------------------------------------
# box type
# --------------------------------------------------------------------------
def _choose_box_name() -> Tuple[str, bool]:
    """Name under which RotatedBoxes gets registered, and whether to force."""
    existing = box_types.get('rbox')
    if existing is None:
        return 'rbox', False
    if (existing.__module__ == __name__
            and existing.__qualname__ == 'RotatedBoxes'):
        return 'rbox', True  # a reload of this module
    vs_existing = box_types.get('vs_rbox')
    return 'vs_rbox', vs_existing is not None


class RotatedBoxes(BaseBoxes):
    """Rotated boxes ``(cx, cy, w, h, theta)`` for mmdet's box API.

    See the module docstring for the angle convention (radians, ``+x`` toward
    ``+y``, clockwise on screen) and the corner order. Stored as
    ``self.tensor`` of shape ``(..., 5)``.

    Geometric transforms (``flip_``, ``rotate_``, ``project_``, non-uniform
    ``rescale_``) return angles wrapped to ``'le90'`` (``[-pi/2, pi/2)``); call
    :meth:`regularize` for another range.

    Args:
        data (Tensor | np.ndarray | Sequence): ``(..., 5)`` box data.
        dtype (torch.dtype, optional): dtype of the stored tensor.
        device (str | torch.device, optional): device of the stored tensor.
        clone (bool): clone the data. Defaults to True.

    Raises:
        ValueError: if the data does not have shape ``(..., 5)``.
    """

    box_dim: int = 5

    def __init__(self,
                 data: Union[Tensor, np.ndarray, Sequence],
                 dtype: Optional[torch.dtype] = None,
                 device: Optional[DeviceType] = None,
                 clone: bool = True) -> None:
        if isinstance(data, (np.ndarray, Tensor, Sequence)):
            probe = torch.as_tensor(data)
            if probe.numel() > 0 and (probe.dim() < 2 or probe.shape[-1] != 5):
                raise ValueError('RotatedBoxes data must have shape (..., 5), '
                                 f'got {tuple(probe.shape)}')
        super().__init__(data=data, dtype=dtype, device=device, clone=clone)

    # ---------------------------------------------------------- properties
    @property
    def centers(self) -> Tensor:
        """Box centres ``(..., 2)`` (cx, cy)."""
        return self.tensor[..., :2]

    @property
    def areas(self) -> Tensor:
        """Box areas ``(...,)`` = ``w * h``."""
        return self.tensor[..., 2] * self.tensor[..., 3]

    @property
    def widths(self) -> Tensor:
        """Side lengths along theta ``(...,)``."""
        return self.tensor[..., 2]

    @property
    def heights(self) -> Tensor:
        """Side lengths perpendicular to theta ``(...,)``."""
        return self.tensor[..., 3]

    @property
    def angles(self) -> Tensor:
        """Angles ``(...,)`` in radians."""
        return self.tensor[..., 4]

    @property
    def corners(self) -> Tensor:
        """Corners ``(..., 4, 2)`` in :func:`rbox2corners` order."""
        return rbox2corners(self.tensor)

    def regularize(self, pattern: str = 'le90',
                   width_longer: bool = False) -> 'RotatedBoxes':
        """Return a copy with angles in a canonical range.

        Args:
            pattern (str): ``'le90'``, ``'le135'`` or ``'oc'``.
            width_longer (bool): see :func:`regularize_boxes`.

        Returns:
            RotatedBoxes: same rectangles, regularized parameters.
        """
        return RotatedBoxes(
            regularize_boxes(self.tensor, pattern, width_longer), clone=False)

    def _set_angles_le90(self) -> None:
        self.tensor[..., 4] = _wrap(self.tensor[..., 4], -math.pi / 2, math.pi)

    # ---------------------------------------------------------- transforms
    def flip_(self,
              img_shape: Tuple[int, int],
              direction: str = 'horizontal') -> None:
        """Flip boxes in place.

        Args:
            img_shape (Tuple[int, int]): image ``(height, width)``.
            direction (str): ``'horizontal'`` (x -> W - x), ``'vertical'``
                (y -> H - y) or ``'diagonal'`` (both).

        Raises:
            ValueError: for an unknown direction.
        """
        if direction not in ('horizontal', 'vertical', 'diagonal'):
            raise ValueError("direction must be 'horizontal', 'vertical' or "
                             f"'diagonal', got {direction!r}")
        boxes = self.tensor
        if direction in ('horizontal', 'diagonal'):
            boxes[..., 0] = img_shape[1] - boxes[..., 0]
        if direction in ('vertical', 'diagonal'):
            boxes[..., 1] = img_shape[0] - boxes[..., 1]
        if direction != 'diagonal':  # a mirror reverses the angle
            boxes[..., 4] = -boxes[..., 4]
        self._set_angles_le90()

    def translate_(self, distances: Tuple[float, float]) -> None:
        """Translate boxes in place.

        Args:
            distances (Tuple[float, float]): ``(dx, dy)`` in pixels.
        """
        if len(distances) != 2:
            raise ValueError(f'distances must be (dx, dy), got {distances}')
        self.tensor[..., :2] = self.tensor[..., :2] + self.tensor.new_tensor(
            distances)

    def clip_(self, img_shape: Tuple[int, int]) -> None:
        """Clip box *centres* into the image in place.

        A rotated box cannot be clipped to an axis-aligned image and remain a
        rectangle, so only the centres are clamped to ``[0, W] x [0, H]``; sizes
        and angles are unchanged.

        Args:
            img_shape (Tuple[int, int]): image ``(height, width)``.
        """
        boxes = self.tensor
        boxes[..., 0] = boxes[..., 0].clamp(0, img_shape[1])
        boxes[..., 1] = boxes[..., 1].clamp(0, img_shape[0])

    def rotate_(self, center: Tuple[float, float], angle: float) -> None:
        """Rotate boxes about a point in place.

        Args:
            center (Tuple[float, float]): rotation origin ``(x, y)``, pixels.
            angle (float): degrees; positive = clockwise on screen (the mmdet
                convention, and the direction in which ``theta`` increases).
        """
        boxes = self.tensor
        a = math.radians(angle)
        cos, sin = math.cos(a), math.sin(a)
        dx = boxes[..., 0] - center[0]
        dy = boxes[..., 1] - center[1]
        boxes[..., 0] = center[0] + cos * dx - sin * dy
        boxes[..., 1] = center[1] + sin * dx + cos * dy
        boxes[..., 4] = boxes[..., 4] + a
        self._set_angles_le90()

    def project_(self, homography_matrix: Union[Tensor, np.ndarray]) -> None:
        """Apply a 3x3 homography in place (corners mapped, then refitted).

        The four projected corners are refitted with the minimum-area rectangle
        (exact for similarity transforms).

        Args:
            homography_matrix (Tensor | np.ndarray): ``(3, 3)``.

        Raises:
            ValueError: if the matrix is not 3x3.
        """
        hmat = torch.as_tensor(homography_matrix, dtype=torch.float64)
        if hmat.shape != (3, 3):
            raise ValueError('homography_matrix must have shape (3, 3), '
                             f'got {tuple(hmat.shape)}')
        boxes = self.tensor
        if boxes.numel() == 0:
            return
        corners = rbox2corners(boxes.to(torch.float64)).reshape(-1, 4, 2)
        ones = corners.new_ones(*corners.shape[:-1], 1)
        proj = torch.cat([corners, ones], -1) @ hmat.to(corners.device).T
        proj = proj[..., :2] / proj[..., 2:3]
        new = poly2rbox(proj.reshape(-1, 8), pattern='le90')
        self.tensor = new.reshape(boxes.shape).to(boxes.dtype)

    def rescale_(self, scale_factor: Tuple[float, float]) -> None:
        """Scale centres and sizes about the origin in place.

        For equal factors the boxes scale exactly; for unequal factors the
        scaled corners (a parallelogram) are refitted with the minimum-area
        rectangle.

        Args:
            scale_factor (Tuple[float, float]): ``(sx, sy)``.
        """
        if len(scale_factor) != 2:
            raise ValueError(f'scale_factor must be (sx, sy), '
                             f'got {scale_factor}')
        sx, sy = float(scale_factor[0]), float(scale_factor[1])
        boxes = self.tensor
        if math.isclose(sx, sy):
            self.tensor = torch.cat(
                [boxes[..., :4] * sx, boxes[..., 4:]], dim=-1)
            return
        self.project_(np.diag([sx, sy, 1.0]))

    def resize_(self, scale_factor: Tuple[float, float]) -> None:
        """Scale box sizes about their centres in place.

        Args:
            scale_factor (Tuple[float, float]): ``(sw, sh)``: ``w`` (the side
                along theta) is multiplied by ``sw`` and ``h`` by ``sh``.
        """
        if len(scale_factor) != 2:
            raise ValueError(f'scale_factor must be (sw, sh), '
                             f'got {scale_factor}')
        boxes = self.tensor
        factors = boxes.new_tensor([1.0, 1.0, scale_factor[0],
                                    scale_factor[1], 1.0])
        self.tensor = boxes * factors

    # ---------------------------------------------------------- queries
    def is_inside(self,
                  img_shape: Tuple[int, int],
                  all_inside: bool = False,
                  allowed_border: int = 0) -> BoolTensor:
        """Which boxes are inside the image.

        Args:
            img_shape (Tuple[int, int]): image ``(height, width)``.
            all_inside (bool): if True, all four corners must be inside
                ``[-b, W + b) x [-b, H + b)``; otherwise the centre must be.
            allowed_border (int): ``b``, pixels.

        Returns:
            BoolTensor: ``(...)`` flags, the box shape without the last dim.
        """
        img_h, img_w = img_shape
        b = allowed_border
        if all_inside:
            pts = self.corners
            inside = ((pts[..., 0] >= -b) & (pts[..., 0] < img_w + b)
                      & (pts[..., 1] >= -b) & (pts[..., 1] < img_h + b))
            return inside.all(dim=-1)
        ctr = self.centers
        return ((ctr[..., 0] >= -b) & (ctr[..., 0] < img_w + b)
                & (ctr[..., 1] >= -b) & (ctr[..., 1] < img_h + b))

    def find_inside_points(self,
                           points: Tensor,
                           is_aligned: bool = False) -> BoolTensor:
        """Which points lie inside which boxes (borders included).

        Args:
            points (Tensor): ``(M, 2)`` points ``(x, y)``.
            is_aligned (bool): if True, point ``i`` is tested against box ``i``
                only (``M == N``).

        Returns:
            BoolTensor: ``(M, N)``, or ``(M,)`` when aligned.

        Raises:
            ValueError: for bad shapes.
        """
        boxes = self.tensor
        if boxes.dim() != 2:
            raise ValueError('find_inside_points needs boxes of shape (N, 5), '
                             f'got {tuple(boxes.shape)}')
        points = torch.as_tensor(points, device=boxes.device)
        if points.dim() != 2 or points.shape[1] != 2:
            raise ValueError(f'points must have shape (M, 2), '
                             f'got {tuple(points.shape)}')
        points = points.to(boxes.dtype)
        if is_aligned:
            if points.shape[0] != boxes.shape[0]:
                raise ValueError('is_aligned=True needs as many points as '
                                 f'boxes, got {points.shape[0]} and '
                                 f'{boxes.shape[0]}')
        else:
            boxes = boxes[None]  # (1, N, 5)
            points = points[:, None]  # (M, 1, 2)
        cx, cy, w, h, theta = boxes.unbind(-1)
        dx, dy = points[..., 0] - cx, points[..., 1] - cy
        cos, sin = torch.cos(theta), torch.sin(theta)
        u = dx * cos + dy * sin
        v = -dx * sin + dy * cos
        return (u.abs() <= w / 2) & (v.abs() <= h / 2)

    def create_masks(self, img_shape: Tuple[int, int]) -> BitmapMasks:
        """Rasterise boxes to instance masks.

        Args:
            img_shape (Tuple[int, int]): image ``(height, width)``.

        Returns:
            BitmapMasks: ``N`` uint8 masks of shape ``(H, W)``.
        """
        img_h, img_w = img_shape
        corners = self.corners.reshape(-1, 4, 2).detach().cpu().numpy()
        masks = np.zeros((len(corners), img_h, img_w), dtype=np.uint8)
        for i, poly in enumerate(corners):
            cv2.fillPoly(masks[i], [np.round(poly).astype(np.int32)], 1)
        return BitmapMasks(masks, img_h, img_w)

    @staticmethod
    def overlaps(boxes1: BaseBoxes,
                 boxes2: BaseBoxes,
                 mode: str = 'iou',
                 is_aligned: bool = False,
                 eps: float = 1e-6) -> Tensor:
        """Rotated IoU / IoF between two box sets.

        Uses ``vision_sparse.ops.box_iou_rotated`` (imported lazily). Other box
        types are converted to :class:`RotatedBoxes` first.

        Args:
            boxes1 (BaseBoxes): ``(N, box_dim)`` boxes.
            boxes2 (BaseBoxes): ``(M, box_dim)`` boxes.
            mode (str): ``'iou'`` or ``'iof'`` (intersection over ``boxes1``
                area).
            is_aligned (bool): pairwise ``(N,)`` output (``N == M``).
            eps (float): kept for API compatibility; the op guards its own
                denominators.

        Returns:
            Tensor: ``(N, M)``, or ``(N,)`` if aligned. Empty inputs give an
            empty result of that shape without calling the op.

        Raises:
            ValueError: for a bad mode or mismatched aligned lengths.
        """
        if mode not in ('iou', 'iof'):
            raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}")
        if not isinstance(boxes1, RotatedBoxes):
            boxes1 = boxes1.convert_to(RBOX_NAME)
        if not isinstance(boxes2, RotatedBoxes):
            boxes2 = boxes2.convert_to(RBOX_NAME)
        t1 = boxes1.tensor.reshape(-1, 5)
        t2 = boxes2.tensor.reshape(-1, 5)
        if is_aligned and t1.shape[0] != t2.shape[0]:
            raise ValueError('is_aligned=True needs boxes1 and boxes2 of the '
                             f'same length, got {t1.shape[0]} and '
                             f'{t2.shape[0]}')
        if t1.shape[0] == 0 or t2.shape[0] == 0:
            shape = (t1.shape[0],) if is_aligned else (t1.shape[0],
                                                       t2.shape[0])
            return t1.new_zeros(shape)
        from vision_sparse.ops import box_iou_rotated
        return box_iou_rotated(t1, t2, aligned=is_aligned, mode=mode)

    @staticmethod
    def from_instance_masks(masks: MaskType) -> 'RotatedBoxes':
        """Minimum-area rotated boxes of instance masks.

        For bitmap masks every foreground pixel is taken as its unit square
        (pixel ``(x, y)`` covers ``[x, x+1] x [y, y+1]``), so the box encloses the
        pixels fully; for polygon masks all vertices of all parts are used.
        Empty masks give all-zero boxes.

        Args:
            masks (BitmapMasks | PolygonMasks): ``N`` masks.

        Returns:
            RotatedBoxes: ``(N, 5)`` boxes, angles in ``'le90'``.

        Raises:
            TypeError: for other mask types.
        """
        boxes = np.zeros((len(masks), 5), dtype=np.float32)
        if isinstance(masks, BitmapMasks):
            offsets = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
            for i, mask in enumerate(masks.masks):
                ys, xs = np.nonzero(mask)
                if len(xs) == 0:
                    continue
                pix = np.stack([xs, ys], -1).astype(np.float32)
                # only the convex hull matters: take hull of pixel centres,
                # then expand its vertices to pixel squares
                hull = cv2.convexHull(pix).reshape(-1, 2)
                pts = (hull[:, None, :] + offsets[None]).reshape(-1, 2)
                boxes[i] = points2rbox(pts).astype(np.float32)
        elif isinstance(masks, PolygonMasks):
            for i, parts in enumerate(masks.masks):
                pts = [np.asarray(p, np.float32).reshape(-1, 2) for p in parts]
                pts = np.concatenate(pts, 0) if pts else np.zeros((0, 2),
                                                                  np.float32)
                boxes[i] = points2rbox(pts).astype(np.float32)
        else:
            raise TypeError('masks must be BitmapMasks or PolygonMasks, '
                            f'got {type(masks).__name__}')
        return RotatedBoxes(boxes, clone=False)


RBOX_NAME, _force = _choose_box_name()
register_box(RBOX_NAME, RotatedBoxes, force=_force)


def _hbox2rbox_converter(boxes: Tensor) -> Tensor:
    return hbox2rbox(boxes)


def _rbox2hbox_converter(boxes: Tensor) -> Tensor:
    return rbox2hbox(boxes)


register_box_converter(
    HorizontalBoxes, RotatedBoxes, _hbox2rbox_converter, force=True)
register_box_converter(
    RotatedBoxes, HorizontalBoxes, _rbox2hbox_converter, force=True)
del _force
