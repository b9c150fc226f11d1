"""Image pairs and two-view scenes with exact geometric ground truth.

* :func:`make_homography_pair`: warp a real photo by a random known
  homography (``cv2.warpPerspective``); matches must satisfy ``x1 ~ H x0``.
* :func:`make_two_view_scene`: random 3-D points seen by two pinhole cameras
  with a known relative pose, projected with optional noise and outliers.
* :class:`SyntheticHomographyPairs`: a registered dataset of such pairs, with
  the same item keys as :mod:`vision_sparse.datasets.matching_pairs`.

Conventions: pixels ``(x, y)`` with integer coordinates at pixel centres
(OpenCV's, also the one ``warpPerspective`` uses); ``H_0to1`` maps image-0
pixels to image-1 pixels; ``T_0to1`` maps camera-0 points to camera-1 points
(``X1 = R X0 + t``), camera frame x right, y down, z forward.
"""
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from torch.utils.data import Dataset

from vision_sparse.registry import DATASETS
from .data import shared_data_path

__all__ = [
    'sample_photo', 'procedural_texture', 'random_homography', 'make_homography_pair',
    'make_two_view_scene', 'SyntheticHomographyPairs', 'SCANNET_SAMPLE_DIR'
]

#: sample photos used when no image is given (relative to the shared data root)
SCANNET_SAMPLE_DIR = ('matching', 'scannet_pairs', 'scannet_sample_images')


def procedural_texture(size: Tuple[int, int] = (640, 480), seed: int = 0) -> np.ndarray:
    """A feature-rich RGB texture (multi-scale noise, discs and rectangles).

    Args:
        size (tuple[int, int]): ``(w, h)``.
        seed (int): random seed.

    Returns:
        np.ndarray: ``(h, w, 3)`` uint8.
    """
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for cells in (4, 16, 48):
        noise = rng.random((cells, cells, 3)).astype(np.float32)
        img += cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC) / 3
    img = np.clip(img, 0, 1)
    for _ in range(80):
        color = tuple(float(c) for c in rng.random(3))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(3, max(4, min(w, h) // 10)))
        if rng.random() < 0.5:
            cv2.circle(img, (cx, cy), r, color, -1, lineType=cv2.LINE_AA)
        else:
            cv2.rectangle(img, (cx - r, cy - r // 2), (cx + r, cy + r // 2), color, -1)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def sample_photo(index: int = 0, max_side: Optional[int] = 640) -> np.ndarray:
    """A real photo from the shared ScanNet samples, else a procedural texture.

    Args:
        index (int): which photo (modulo the number available).
        max_side (int, optional): downscale so that the longer side is at
            most this (None keeps 1296x968).

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB.
    """
    folder = shared_data_path(*SCANNET_SAMPLE_DIR)
    paths = sorted(Path(folder).glob('*.jpg')) if folder is not None else []
    if not paths:
        w, h = (max_side or 640), int(round((max_side or 640) * 0.75))
        return procedural_texture((w, h), seed=index)
    img = cv2.imread(str(paths[index % len(paths)]), cv2.IMREAD_COLOR)[..., ::-1]
    if max_side is not None and max(img.shape[:2]) > max_side:
        s = max_side / max(img.shape[:2])
        img = cv2.resize(img, (int(round(img.shape[1] * s)), int(round(img.shape[0] * s))),
                         interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img)


def random_homography(image_size: Tuple[int, int], seed: int = 0,
                      max_rotation_deg: float = 30.0,
                      scale_range: Tuple[float, float] = (0.8, 1.25),
                      perspective: float = 0.1, max_translation: float = 0.1) -> np.ndarray:
    """A random homography that keeps the image roughly in view.

    ``H = T(c + shift) @ P @ [s R | 0] @ T(-c)`` about the image centre ``c``:
    rotation ``|angle| <= max_rotation_deg``, isotropic scale ``s`` in
    ``scale_range`` (log-uniform), shift up to ``max_translation`` of the
    image size, and a projective part ``P`` whose bottom row
    ``(p1 / (w/2), p2 / (h/2), 1)`` has ``|p1|, |p2| <= perspective`` (the
    relative change of the homogeneous scale at the image border).

    Args:
        image_size (tuple[int, int]): ``(w, h)`` of image 0.
        seed (int): random seed.
        max_rotation_deg (float): rotation bound, degrees.
        scale_range (tuple[float, float]): ``(min, max)`` scale, positive.
        perspective (float): projective strength in ``[0, 1)``.
        max_translation (float): shift bound as a fraction of ``(w, h)``.

    Returns:
        np.ndarray: ``(3, 3)`` float64 ``H_0to1`` with ``H[2, 2] = 1``.

    Raises:
        ValueError: for out-of-range parameters.
    """
    w, h = image_size
    if w <= 0 or h <= 0:
        raise ValueError(f'image_size must be positive (w, h), got {image_size}')
    lo, hi = scale_range
    if not 0 < lo <= hi:
        raise ValueError(f'scale_range must satisfy 0 < min <= max, got {scale_range}')
    if not 0 <= perspective < 1:
        raise ValueError(f'perspective must be in [0, 1), got {perspective}')
    rng = np.random.default_rng(seed)
    ang = math.radians(rng.uniform(-max_rotation_deg, max_rotation_deg))
    s = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    cx, cy = (w - 1) / 2, (h - 1) / 2
    shift = rng.uniform(-max_translation, max_translation, 2) * np.array([w, h])
    to_c = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], np.float64)
    back = np.array([[1, 0, cx + shift[0]], [0, 1, cy + shift[1]], [0, 0, 1]], np.float64)
    rs = np.array([[s * math.cos(ang), -s * math.sin(ang), 0],
                   [s * math.sin(ang), s * math.cos(ang), 0], [0, 0, 1]], np.float64)
    p = rng.uniform(-perspective, perspective, 2)
    persp = np.array([[1, 0, 0], [0, 1, 0], [p[0] / (w / 2), p[1] / (h / 2), 1]], np.float64)
    H = back @ persp @ rs @ to_c
    return H / H[2, 2]


def make_homography_pair(image: np.ndarray, seed: int = 0, max_rotation_deg: float = 30.0,
                         scale_range: Tuple[float, float] = (0.8, 1.25),
                         perspective: float = 0.1, max_translation: float = 0.1,
                         output_size: Optional[Tuple[int, int]] = None,
                         H: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """Warp a photo by a random (or given) homography.

    Args:
        image (np.ndarray): ``(H, W, 3)`` or ``(H, W)`` uint8, image 0.
        seed, max_rotation_deg, scale_range, perspective, max_translation:
            see :func:`random_homography`.
        output_size (tuple[int, int], optional): ``(w, h)`` of image 1
            (default image 0's size).
        H (np.ndarray, optional): ``(3, 3)`` homography to use instead of a
            random one.

    Returns:
        dict: ``image0``, ``image1`` (uint8, black outside the warped
        photo), ``H_0to1`` (3, 3) float64, ``valid1`` (h1, w1) bool (image-1
        pixels that come from inside image 0), ``image_size0``,
        ``image_size1`` (2,) int64 ``(w, h)``.

    Raises:
        ValueError: for a non-image input.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3) \
            or min(image.shape[:2]) == 0:
        raise ValueError('image must be a non-empty (H, W, 3) or (H, W) uint8 array, got '
                         f'{getattr(image, "shape", type(image))}')
    h0, w0 = image.shape[:2]
    w1, h1 = output_size if output_size is not None else (w0, h0)
    if H is None:
        H = random_homography((w0, h0), seed, max_rotation_deg, scale_range, perspective,
                              max_translation)
    H = np.asarray(H, np.float64)
    if H.shape != (3, 3):
        raise ValueError(f'H must be (3, 3), got {H.shape}')
    warped = cv2.warpPerspective(image, H, (w1, h1), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    valid = cv2.warpPerspective(np.ones((h0, w0), np.uint8), H, (w1, h1),
                                flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0).astype(bool)
    return dict(image0=image, image1=warped, H_0to1=H / H[2, 2], valid1=valid,
                image_size0=np.array([w0, h0], np.int64), image_size1=np.array([w1, h1], np.int64))


def _rotation_about(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    axis = np.asarray(axis, np.float64)
    axis = axis / np.linalg.norm(axis)
    rvec = (axis * math.radians(angle_deg)).reshape(3, 1)
    return cv2.Rodrigues(rvec)[0]


def make_two_view_scene(num_points: int = 200, rotation_deg: float = 10.0,
                        translation: Sequence[float] = (0.5, 0.05, 0.1),
                        image_size: Tuple[int, int] = (640, 480), focal: float = 500.0,
                        depth_range: Tuple[float, float] = (2.0, 6.0), noise_px: float = 0.0,
                        outlier_ratio: float = 0.0, seed: int = 0) -> Dict[str, Any]:
    """Random 3-D points seen by two pinhole cameras with a known relative pose.

    Camera 0 is at the origin; camera 1 has ``T_0to1 = [R | t]`` with ``R``
    a rotation of ``rotation_deg`` about a random axis and ``t`` =
    ``translation`` (pass zeros for a pure rotation).  Points are drawn as
    random pixels of image 0 at random depths, kept when they project inside
    image 1 in front of camera 1.

    Args:
        num_points (int): number of correspondences.
        rotation_deg (float): rotation angle, degrees.
        translation (Sequence[float]): ``t`` (3,), metres.
        image_size (tuple[int, int]): ``(w, h)`` of both images.
        focal (float): focal length in pixels (principal point at the centre).
        depth_range (tuple[float, float]): depth range in camera 0, metres.
        noise_px (float): std of Gaussian noise added to both keypoint sets.
        outlier_ratio (float): fraction of ``kpts1`` replaced by random pixels.
        seed (int): random seed.

    Returns:
        dict: ``kpts0``, ``kpts1`` (N, 2) float64 pixels, ``K0``, ``K1``
        (3, 3), ``T_0to1`` (4, 4), ``points3d`` (N, 3) in camera 0,
        ``is_outlier`` (N,) bool, ``image_size`` ``(w, h)``.
    """
    if num_points < 0:
        raise ValueError(f'num_points must be >= 0, got {num_points}')
    rng = np.random.default_rng(seed)
    w, h = image_size
    K = np.array([[focal, 0, (w - 1) / 2], [0, focal, (h - 1) / 2], [0, 0, 1]], np.float64)
    R = _rotation_about(rng.normal(size=3), rotation_deg) if rotation_deg else np.eye(3)
    t = np.asarray(translation, np.float64).reshape(3)
    pts, k0s, k1s = [], [], []
    need = num_points
    for _ in range(100):
        if need <= 0:
            break
        m = max(4 * need, 64)
        uv = rng.uniform([0, 0], [w - 1, h - 1], (m, 2))
        z = rng.uniform(*depth_range, m)
        X0 = np.c_[(uv - K[:2, 2]) / focal * z[:, None], z]
        X1 = X0 @ R.T + t
        ok = X1[:, 2] > 0.1
        uv1 = X1[:, :2] / np.maximum(X1[:, 2:], 1e-9) * focal + K[:2, 2]
        ok &= (uv1[:, 0] >= 0) & (uv1[:, 0] <= w - 1) & (uv1[:, 1] >= 0) & (uv1[:, 1] <= h - 1)
        idx = np.flatnonzero(ok)[:need]
        pts.append(X0[idx])
        k0s.append(uv[idx])
        k1s.append(uv1[idx])
        need -= len(idx)
    if need > 0:
        raise ValueError('could not place enough points visible in both views; reduce the '
                         'rotation / translation or the number of points')
    X0 = np.concatenate(pts) if pts else np.zeros((0, 3))
    kpts0 = np.concatenate(k0s) if k0s else np.zeros((0, 2))
    kpts1 = np.concatenate(k1s) if k1s else np.zeros((0, 2))
    if noise_px > 0:
        kpts0 = kpts0 + rng.normal(0, noise_px, kpts0.shape)
        kpts1 = kpts1 + rng.normal(0, noise_px, kpts1.shape)
    is_out = rng.random(len(kpts1)) < outlier_ratio
    kpts1[is_out] = rng.uniform([0, 0], [w - 1, h - 1], (int(is_out.sum()), 2))
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return dict(kpts0=kpts0, kpts1=kpts1, K0=K.copy(), K1=K.copy(), T_0to1=T, points3d=X0,
                is_outlier=is_out, image_size=(w, h))


@DATASETS.register_module()
class SyntheticHomographyPairs(Dataset):
    """Pairs made by warping photos with random known homographies.

    Args:
        images (Sequence[str], optional): image files; default the shared
            ScanNet sample photos (procedural textures when absent).
        num_pairs (int): number of pairs (photos are reused cyclically).
        seed (int): base seed; pair ``i`` uses ``seed + i``.
        resize (int | None): cap of the photos' longer side (default 640).
        max_rotation_deg, scale_range, perspective, max_translation: see
            :func:`random_homography`.

    Items: ``image0``, ``image1`` (H, W, 3) uint8 RGB, ``H_0to1`` (3, 3),
    ``K0`` = ``K1`` = ``T_0to1`` = None, ``name0``, ``name1``,
    ``image_size0``, ``image_size1``, ``pair_index`` (the keys of
    :mod:`vision_sparse.datasets.matching_pairs`; batch with
    ``pseudo_collate``).
    """

    METAINFO = dict(task='homography')

    def __init__(self, images: Optional[Sequence[str]] = None, num_pairs: int = 10, seed: int = 0,
                 resize: Optional[int] = 640, max_rotation_deg: float = 30.0,
                 scale_range: Tuple[float, float] = (0.8, 1.25), perspective: float = 0.1,
                 max_translation: float = 0.1) -> None:
        super().__init__()
        if num_pairs < 0:
            raise ValueError(f'num_pairs must be >= 0, got {num_pairs}')
        self.images: List[str] = list(images) if images is not None else []
        for path in self.images:
            if not Path(path).is_file():
                raise FileNotFoundError(f'image not found: {path}')
        self.num_pairs, self.seed, self.resize = int(num_pairs), int(seed), resize
        self.warp_args = dict(max_rotation_deg=max_rotation_deg, scale_range=tuple(scale_range),
                              perspective=perspective, max_translation=max_translation)
        random_homography((64, 48), 0, **self.warp_args)  # validates the parameters

    @property
    def metainfo(self) -> dict:
        return dict(self.METAINFO, num_pairs=self.num_pairs)

    def __len__(self) -> int:
        return self.num_pairs

    def _photo(self, idx: int) -> Tuple[np.ndarray, str]:
        if not self.images:
            return sample_photo(idx, self.resize), f'sample_{idx}'
        path = self.images[idx % len(self.images)]
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise OSError(f'could not decode image: {path}')
        img = np.ascontiguousarray(img[..., ::-1])
        if self.resize is not None and max(img.shape[:2]) > self.resize:
            s = self.resize / max(img.shape[:2])
            img = cv2.resize(img, (int(round(img.shape[1] * s)), int(round(img.shape[0] * s))),
                             interpolation=cv2.INTER_AREA)
        return img, Path(path).name

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        if not -len(self) <= idx < len(self):
            raise IndexError(f'pair index {idx} out of range for {len(self)} pairs')
        idx = idx % len(self)
        photo, name = self._photo(idx)
        pair = make_homography_pair(photo, seed=self.seed + idx, **self.warp_args)
        return dict(image0=pair['image0'], image1=pair['image1'], K0=None, K1=None, T_0to1=None,
                    H_0to1=pair['H_0to1'], name0=name, name1=f'{name}@H{self.seed + idx}',
                    image_size0=pair['image_size0'], image_size1=pair['image_size1'],
                    pair_index=int(idx))
