"""Synthetic inputs with exact ground truth, shared by tests, demos and benchmarks.

All factories are deterministic given ``seed`` and return numpy / torch data in
the package's conventions (rotated boxes ``(cx, cy, w, h, theta)`` in pixels and
radians; LiDAR boxes ``(x, y, z_center, l, w, h, yaw)`` in metres).
"""
from typing import Dict, Tuple

import numpy as np
import torch


def random_rotated_boxes(num: int, image_size: Tuple[int, int] = (1024, 1024),
                         size_range: Tuple[float, float] = (8.0, 200.0), seed: int = 0,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``num`` random rotated boxes inside an image.

    Args:
        num (int): number of boxes (0 gives an empty (0, 5) tensor).
        image_size (tuple[int, int]): (width, height) for the centres, pixels.
        size_range (tuple[float, float]): range of w and h, pixels.
        seed (int): random seed.
        dtype (torch.dtype): output dtype.

    Returns:
        Tensor: (num, 5) boxes (cx, cy, w, h, theta), theta in [-pi/2, pi/2).
    """
    if num < 0:
        raise ValueError(f'num must be >= 0, got {num}')
    g = torch.Generator().manual_seed(seed)
    w_img, h_img = image_size
    lo, hi = size_range
    c = torch.rand(num, 2, generator=g, dtype=torch.float64) * torch.tensor(
        [w_img, h_img], dtype=torch.float64)
    wh = lo + (hi - lo) * torch.rand(num, 2, generator=g, dtype=torch.float64)
    theta = (torch.rand(num, 1, generator=g, dtype=torch.float64) - 0.5) * np.pi
    return torch.cat([c, wh, theta], dim=1).to(dtype)


def jittered_detections(gt_boxes: torch.Tensor, copies: int = 5, jitter: float = 0.08,
                        seed: int = 0) -> Dict[str, torch.Tensor]:
    """Noisy duplicate detections around ground-truth rotated boxes.

    Each box gets ``copies`` detections with centre/size jittered by ``jitter``
    times its size and the angle by ``jitter`` radians; the copy closest to the
    truth (copy 0, unjittered scale 0.25) gets the highest score.  Useful to test
    NMS: a correct NMS keeps exactly one detection per well-separated object.

    Returns:
        dict: ``boxes`` (N*copies, 5), ``scores`` (N*copies,), ``gt_index``
        (N*copies,) index of the ground truth each detection came from.
    """
    g = torch.Generator().manual_seed(seed)
    n = gt_boxes.shape[0]
    gt = gt_boxes.to(torch.float64).repeat_interleave(copies, 0)
    k = torch.arange(copies, dtype=torch.float64).repeat(n)
    scale = torch.where(k == 0, torch.full_like(k, 0.25), torch.ones_like(k)) * jitter
    noise = torch.randn(n * copies, 5, generator=g, dtype=torch.float64) * scale[:, None]
    boxes = gt.clone()
    size = gt[:, 2:4].mean(1, keepdim=True)
    boxes[:, 0:2] += noise[:, 0:2] * size
    boxes[:, 2:4] *= (1 + noise[:, 2:4]).clamp(min=0.5)
    boxes[:, 4] += noise[:, 4]
    scores = torch.rand(n * copies, generator=g, dtype=torch.float64) * 0.5 + torch.where(
        k == 0, torch.full_like(k, 0.5), torch.zeros_like(k))
    return dict(boxes=boxes.to(gt_boxes.dtype), scores=scores.to(gt_boxes.dtype),
                gt_index=torch.arange(n).repeat_interleave(copies))


def synthetic_lidar_scene(num_boxes: int = 8, points_per_box: int = 200,
                          ground_points: int = 4000, range_m: float = 40.0,
                          seed: int = 0) -> Dict[str, np.ndarray]:
    """A LiDAR-like point cloud: a flat ground plus points on the surfaces of boxes.

    Returns:
        dict: ``points`` (P, 4) x, y, z, intensity in the LiDAR frame (metres);
        ``boxes`` (num_boxes, 7) (x, y, z_center, l, w, h, yaw) without overlaps
        between boxes; ``labels`` (num_boxes,) int64; ``num_points`` (num_boxes,)
        exact number of points generated inside each box.
    """
    rng = np.random.default_rng(seed)
    boxes = []
    tries = 0
    while len(boxes) < num_boxes and tries < 1000:
        tries += 1
        x, y = rng.uniform(-range_m * 0.8, range_m * 0.8, 2)
        l, w, h = rng.uniform(3.5, 5.0), rng.uniform(1.6, 2.0), rng.uniform(1.4, 1.9)
        if any(np.hypot(x - b[0], y - b[1]) < 7.0 for b in boxes):
            continue
        boxes.append([x, y, -1.8 + h / 2, l, w, h, rng.uniform(-np.pi, np.pi)])
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    pts = [np.c_[rng.uniform(-range_m, range_m, (ground_points, 2)),
                 np.full(ground_points, -1.85), rng.uniform(0, 0.2, ground_points)]]
    for b in boxes:
        local = rng.uniform(-0.48, 0.48, (points_per_box, 3)) * b[3:6]
        face = rng.integers(0, 3, points_per_box)  # push each point to a face
        local[np.arange(points_per_box), face] = np.sign(
            local[np.arange(points_per_box), face]) * 0.48 * b[3:6][face]
        c, s = np.cos(b[6]), np.sin(b[6])
        rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        world = local @ rot.T + b[:3]
        pts.append(np.c_[world, rng.uniform(0.3, 1.0, points_per_box)])
    points = np.concatenate(pts).astype(np.float32)
    return dict(points=points, boxes=boxes.astype(np.float32),
                labels=rng.integers(0, 3, len(boxes)).astype(np.int64),
                num_points=np.full(len(boxes), points_per_box, dtype=np.int64))


__all__ = ['random_rotated_boxes', 'jittered_detections', 'synthetic_lidar_scene']
