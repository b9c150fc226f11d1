"""3-D boxes projected into a camera image."""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from vision_sparse.structures.bbox.boxes3d import (BaseBoxes3D, LiDARBoxes3D,
                                                   _as_matrix)
from ._common import _ipt, _to_numpy
from .colors import _per_item_colors
from .images import _draw_tag, _label_text, to_rgb

__all__ = ['box_edges', 'draw_boxes3d_on_image']


def box_edges() -> np.ndarray:
    """Edges of one box as index pairs into its 8 corners.

    Returns:
        np.ndarray: ``(14, 2)`` int: the 12 edges of
        :attr:`BaseBoxes3D.EDGES` then the 2 diagonals of the front face.
    """
    front = BaseBoxes3D.FRONT_FACE
    cross = ((front[0], front[2]), (front[1], front[3]))
    return np.asarray(tuple(BaseBoxes3D.EDGES) + cross, np.int32)


def _clip_segment(pa: np.ndarray, pb: np.ndarray,
                  near: float) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Clip a segment of homogeneous pixels ``(u*w, v*w, w)`` to ``w >= near``.

    Homogeneous pixels are linear in the 3-D point, so interpolating them
    clips the 3-D segment at the plane ``depth = near``.
    """
    wa, wb = pa[2], pb[2]
    if wa < near and wb < near:
        return None
    if wa < near:
        t = (near - wa) / (wb - wa)
        pa = pa + t * (pb - pa)
    elif wb < near:
        t = (near - wb) / (wa - wb)
        pb = pb + t * (pa - pb)
    return pa[:2] / pa[2], pb[:2] / pb[2]


def draw_boxes3d_on_image(img: np.ndarray,
                          boxes3d: BaseBoxes3D,
                          cam2img,
                          lidar2cam=None,
                          color=None,
                          labels=None,
                          scores=None,
                          class_names: Optional[Sequence[str]] = None,
                          thickness: int = 2,
                          min_depth: float = 0.1) -> np.ndarray:
    """Draw the 12 edges of 3-D boxes projected into a camera image.

    The front face (heading end) is marked with a cross. Edges are clipped in
    3-D at ``depth = min_depth``, so boxes partly behind the camera are drawn
    up to the image plane and boxes entirely behind it are skipped.

    Args:
        img (np.ndarray): the camera image.
        boxes3d (LiDARBoxes3D | CameraBoxes3D): boxes.
        cam2img: ``(3, 3)`` intrinsics or ``(3, 4)`` / ``(4, 4)`` projection.
        lidar2cam: ``(4, 4)`` LiDAR -> camera, required for LiDAR boxes, None
            for camera boxes.
        color: None (label colours, else a palette), an RGB tuple, ``(N, 3)``
            colours or ``(N,)`` scores to colour-map.
        labels: ``(N,)`` int labels, optional (colours + text).
        scores: ``(N,)`` scores for the text, optional.
        class_names (Sequence[str], optional): names for label text.
        thickness (int): line thickness.
        min_depth (float): near clipping depth, metres.

    Returns:
        np.ndarray: new image.

    Raises:
        TypeError: if ``boxes3d`` is not a 3-D box object.
        ValueError: for bad matrices or a wrong use of ``lidar2cam``.
    """
    if not isinstance(boxes3d, BaseBoxes3D):
        raise TypeError('boxes3d must be LiDARBoxes3D or CameraBoxes3D, '
                        f'got {type(boxes3d).__name__}')
    out = to_rgb(img)
    n = len(boxes3d)
    proj = _as_matrix(cam2img, 'cam2img', boxes3d.tensor)
    if isinstance(boxes3d, LiDARBoxes3D):
        if lidar2cam is None:
            raise ValueError('lidar2cam is required for LiDARBoxes3D')
        proj = proj @ _as_matrix(lidar2cam, 'lidar2cam', boxes3d.tensor)
    elif lidar2cam is not None:
        raise ValueError('lidar2cam must be None for CameraBoxes3D')
    if n == 0:
        return out
    proj = proj.cpu().numpy()
    corners = boxes3d.corners.detach().cpu().numpy().astype(np.float64)
    hom = corners @ proj[:3, :3].T + proj[:3, 3]  # (N, 8, 3)
    labs = None if labels is None else _to_numpy(labels, 'labels').reshape(-1)
    scs = None if scores is None else _to_numpy(scores, 'scores').reshape(-1)
    colors = _per_item_colors(color, n, labs)
    h, w = out.shape[:2]
    edges = box_edges()
    for i in range(n):
        if np.all(hom[i, :, 2] < min_depth):
            continue
        drawn = []
        for k, (a, b) in enumerate(edges):
            seg = _clip_segment(hom[i, a], hom[i, b], min_depth)
            if seg is None:
                continue
            ok, p, q = cv2.clipLine((0, 0, w, h), _ipt(seg[0]), _ipt(seg[1]))
            if not ok:
                continue
            lw = thickness if k < 12 else max(1, thickness - 1)
            cv2.line(out, p, q, colors[i], lw, cv2.LINE_AA)
            drawn.extend([p, q])
        text = _label_text(i, labs, scs, class_names)
        if text and drawn:
            top = min(drawn, key=lambda pt: pt[1])
            _draw_tag(out, text, (top[0], top[1] - 2), colors[i])
    return out
