"""Evaluation pairs with exact geometry beside the ScanNet sample pairs.

* :class:`SevenScenesPairsDataset`: pose pairs from 7-Scenes frames (colour,
  depth, camera-to-world pose); pairs are chosen by their covisible share,
  computed from the depth maps (:func:`covisible_share`).
* :func:`homography_eval_pairs`: a fixed, seeded set of
  :class:`~vision_sparse.testing.synthetic_pairs.SyntheticHomographyPairs`
  (real photos warped by known homographies).

Items have the keys of :mod:`vision_sparse.datasets.matching_pairs`
(``image0/1``, ``K0/1``, ``T_0to1``, ``H_0to1``, ``name0/1``,
``image_size0/1``, ``pair_index``); 7-Scenes items add ``overlap`` (float)
and, with ``with_depth=True``, ``depth0/1`` ``(h, w)`` float32 metres (0 =
invalid) and ``K_depth`` ``(3, 3)``.

7-Scenes geometry: the depth camera is not registered to the colour camera;
as is common with this dataset, the pose is used for both and depth pixels
are back-projected with the depth intrinsics (f = 585), colour pixels use
the colour intrinsics (f = 525). ``T_0to1 = inv(T_c2w1) @ T_c2w0`` maps
camera-0 points to camera-1 points (metres).
"""
from itertools import combinations
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from torch.utils.data import Dataset

from vision_sparse.registry import DATASETS

__all__ = ['SevenScenesPairsDataset', 'covisible_share', 'warp_depth_pixels',
           'homography_eval_pairs', 'read_7scenes_depth']


def read_7scenes_depth(path: str) -> np.ndarray:
    """A 7-Scenes depth PNG as ``(h, w)`` float32 metres, 0 where invalid
    (stored 0 or 65535)."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise FileNotFoundError(f'cannot read depth {path}')
    depth = raw.astype(np.float32) * 1e-3
    depth[(raw == 0) | (raw == 65535)] = 0
    return depth


def warp_depth_pixels(xy0: np.ndarray, z0: np.ndarray, K0: np.ndarray, K1: np.ndarray,
                      T_0to1: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Pixels of camera 0 with known depth -> pixels of camera 1.

    Args:
        xy0 (np.ndarray): ``(N, 2)`` px ``(x, y)`` (pixel centres at integers).
        z0 (np.ndarray): ``(N,)`` depth along camera 0's z axis, > 0.
        K0, K1 (np.ndarray): ``(3, 3)`` intrinsics.
        T_0to1 (np.ndarray): ``(4, 4)``, ``X1 = R X0 + t``.

    Returns:
        tuple: ``xy1 (N, 2)`` px and ``z1 (N,)`` depth in camera 1 (points
        with ``z1 <= 0`` get ``xy1 = nan``).
    """
    xy0 = np.asarray(xy0, np.float64).reshape(-1, 2)
    z0 = np.asarray(z0, np.float64).reshape(-1)
    if len(xy0) != len(z0):
        raise ValueError(f'xy0 (N, 2) and z0 (N,) differ in length: {len(xy0)} vs {len(z0)}')
    ray = np.linalg.solve(K0, np.vstack([xy0.T, np.ones(len(xy0))]))
    X1 = T_0to1[:3, :3] @ (ray * z0) + T_0to1[:3, 3:4]
    z1 = X1[2]
    with np.errstate(divide='ignore', invalid='ignore'):
        p = K1 @ X1
        xy1 = (p[:2] / p[2]).T
    xy1[z1 <= 0] = np.nan
    return xy1, z1


def covisible_share(depth0: np.ndarray, depth1: np.ndarray, K_depth: np.ndarray,
                    T_0to1: np.ndarray, rel_tol: float = 0.1, step: int = 4) -> float:
    """Share of image 0's valid depth pixels that image 1 sees.

    A pixel counts when it warps inside image 1 in front of the camera and
    image 1's depth there agrees within ``rel_tol`` (relative), i.e. it is
    not occluded.

    Args:
        depth0, depth1 (np.ndarray): ``(h, w)`` metres, 0 = invalid.
        K_depth (np.ndarray): ``(3, 3)`` intrinsics of both depth maps.
        T_0to1 (np.ndarray): ``(4, 4)`` camera 0 -> camera 1.
        rel_tol (float): depth agreement tolerance, > 0.
        step (int): use every ``step``-th pixel in x and y.

    Returns:
        float: in ``[0, 1]`` (0 when image 0 has no valid depth).
    """
    if depth0.ndim != 2 or depth1.ndim != 2:
        raise ValueError(f'depth maps must be (h, w), got {depth0.shape} and {depth1.shape}')
    ys, xs = np.mgrid[0:depth0.shape[0]:step, 0:depth0.shape[1]:step]
    z0 = depth0[ys, xs].reshape(-1)
    ok = z0 > 0
    if not ok.any():
        return 0.0
    xy0 = np.stack([xs.reshape(-1), ys.reshape(-1)], 1)[ok]
    xy1, z1 = warp_depth_pixels(xy0, z0[ok], K_depth, K_depth, T_0to1)
    h, w = depth1.shape
    with np.errstate(invalid='ignore'):
        xi = np.floor(xy1[:, 0] + 0.5)
        yi = np.floor(xy1[:, 1] + 0.5)
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    d1 = np.zeros(len(xy1))
    d1[inside] = depth1[yi[inside].astype(int), xi[inside].astype(int)]
    seen = inside & (d1 > 0) & (np.abs(d1 - z1) <= rel_tol * np.maximum(d1, 1e-6))
    return float(seen.sum() / len(xy0))


@DATASETS.register_module()
class SevenScenesPairsDataset(Dataset):
    """Relative-pose pairs of 7-Scenes frames with a given covisible share.

    Every pair of frames (all sequences) whose covisible share (the smaller of
    the two directions, :func:`covisible_share`) lies in
    ``[min_overlap, max_overlap]`` is kept, in frame order, at most
    ``max_per_sequence_pair`` per pair of sequences (nearby frames of one
    sequence are near duplicates). On the shared ``stairs`` sample (frames
    0-2 of sequences 1-4) the shares between sequences are 0.03 (1-4), 0.10
    (1-3), 0.17-0.19 (2-3, 3-4), 0.24-0.29 (2-4) and 0.36 (1-2), and 0.84-0.99
    within a sequence; the defaults keep 2 pairs of each of the 4 sequence
    pairs above 0.15. These are hard pairs (41-52 degrees of rotation, up to
    1.4 m of translation, ~2.5 KB JPEGs): ALIKED + LightGlue finds 18-150
    matches; on the two seq-02 / seq-04 pairs its fundamental-matrix inliers
    lie 4-5 px (median) from the ground-truth epipolar lines, 800 px from
    those of the inverted pose. Pairs within one sequence (frames 0-2) move
    about 1 mm: their translation direction is undefined, so they are not
    pose pairs.

    Args:
        data_root (str): a scene folder (``.../stairs``) with ``seq-XX/``
            ``frame-*.{color.jpg|color.png, depth.png, pose.txt}``.
        sequences (Sequence[int], optional): sequence numbers (default all).
        min_overlap, max_overlap (float): covisible share bounds in [0, 1].
        max_per_sequence_pair (int, optional): pairs kept per pair of
            sequences (None = all).
        max_pairs (int, optional): keep the first ``max_pairs`` pairs.
        with_depth (bool): add ``depth0``, ``depth1``, ``K_depth`` to items.
        rel_tol, step: see :func:`covisible_share`.

    Raises:
        FileNotFoundError: a missing folder or depth map.
        ValueError: bad bounds.
    """

    METAINFO = dict(task='relative_pose')

    def __init__(self, data_root: str, sequences: Optional[Sequence[int]] = None,
                 min_overlap: float = 0.15, max_overlap: float = 0.7,
                 max_per_sequence_pair: Optional[int] = 2, max_pairs: Optional[int] = None,
                 with_depth: bool = False, rel_tol: float = 0.1, step: int = 4) -> None:
        super().__init__()
        from .relocalization import load_7scenes
        if not 0 <= min_overlap <= max_overlap <= 1:
            raise ValueError('need 0 <= min_overlap <= max_overlap <= 1, got '
                             f'{min_overlap}, {max_overlap}')
        if max_pairs is not None and max_pairs < 0:
            raise ValueError(f'max_pairs must be None or >= 0, got {max_pairs}')
        self.data_root, self.with_depth = str(data_root), bool(with_depth)
        self.frames = load_7scenes(data_root, 'all', sequences, load_depth=True)
        for f in self.frames:
            if 'depth_path' not in f:
                raise FileNotFoundError(f'7-Scenes frame {f["name"]} has no depth map')
        depths = [read_7scenes_depth(f['depth_path']) for f in self.frames]
        self.all_overlaps: Dict[Tuple[int, int], float] = {}
        pairs, per_seq = [], {}
        for i, j in combinations(range(len(self.frames)), 2):
            T = self.relative_pose(i, j)
            Kd = self.frames[i]['K_depth']
            ov = min(covisible_share(depths[i], depths[j], Kd, T, rel_tol, step),
                     covisible_share(depths[j], depths[i], Kd, np.linalg.inv(T), rel_tol, step))
            self.all_overlaps[(i, j)] = ov
            seqs = (self.frames[i]['name'].split('/')[0], self.frames[j]['name'].split('/')[0])
            if min_overlap <= ov <= max_overlap and (
                    max_per_sequence_pair is None
                    or per_seq.get(seqs, 0) < int(max_per_sequence_pair)):
                per_seq[seqs] = per_seq.get(seqs, 0) + 1
                pairs.append((i, j, ov))
        self.pairs = pairs if max_pairs is None else pairs[:max_pairs]

    def relative_pose(self, i: int, j: int) -> np.ndarray:
        """``(4, 4)`` ``T_0to1`` from frame ``i`` to frame ``j``."""
        return np.linalg.inv(self.frames[j]['T_c2w']) @ self.frames[i]['T_c2w']

    @property
    def metainfo(self) -> dict:
        return dict(self.METAINFO, data_root=self.data_root, num_pairs=len(self.pairs))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        if not -len(self) <= idx < len(self):
            raise IndexError(f'pair index {idx} out of range for {len(self)} pairs')
        from .matching_pairs import read_rgb
        i, j, ov = self.pairs[idx]
        f0, f1 = self.frames[i], self.frames[j]
        img0, img1 = read_rgb(f0['img_path']), read_rgb(f1['img_path'])
        item = dict(image0=img0, image1=img1, K0=f0['K'].copy(), K1=f1['K'].copy(),
                    T_0to1=self.relative_pose(i, j), H_0to1=None, name0=f0['name'],
                    name1=f1['name'], image_size0=np.array(img0.shape[1::-1], np.int64),
                    image_size1=np.array(img1.shape[1::-1], np.int64),
                    pair_index=int(idx % len(self)), overlap=float(ov))
        if self.with_depth:
            item.update(depth0=read_7scenes_depth(f0['depth_path']),
                        depth1=read_7scenes_depth(f1['depth_path']),
                        K_depth=f0['K_depth'].copy())
        return item

    def __repr__(self) -> str:
        return f'{type(self).__name__}(data_root={self.data_root!r}, pairs={len(self)})'


def homography_eval_pairs(num_pairs: int = 12, seed: int = 1000, resize: Optional[int] = 640,
                          images: Optional[List[str]] = None):
    """The fixed homography evaluation set: ``num_pairs`` real photos (the
    shared ScanNet samples, or ``images``) warped by seeded random
    homographies (rotation up to 30 deg, scale 0.8-1.25, perspective 0.1,
    shift 10 %), exact ``H_0to1``.

    Returns:
        SyntheticHomographyPairs: items as in the module docstring.
    """
    from vision_sparse.testing.synthetic_pairs import SyntheticHomographyPairs
    return SyntheticHomographyPairs(images=images, num_pairs=num_pairs, seed=seed, resize=resize)
