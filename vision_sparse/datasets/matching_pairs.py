"""Image-pair datasets with geometric ground truth, for point / area matching.

* :class:`ScanNetPairsDataset`: SuperGlue / LoFTR "pairs with gt" lists
  (ScanNet-1500, MegaDepth-1500 / YFCC in that format, the shared ScanNet
  sample): ``name0 name1 rot0 rot1 K0(9) K1(9) T_0to1(16)`` per line.
* :class:`HPatchesDataset`: HPatches sequences (``i_*`` / ``v_*`` folders with
  ``1.ppm .. 6.ppm`` and ``H_1_k``).

Every item is a plain dict (numpy arrays, strings, tuples, None), the same
keys for both datasets so that one batch can hold either::

    image0, image1   (H, W, 3) uint8 RGB, after the optional resize
    K0, K1           (3, 3) float64 intrinsics for the returned images, or None
    T_0to1           (4, 4) float64, X_cam1 = R @ X_cam0 + t (metres), or None
    H_0to1           (3, 3) float64, x1 ~ H @ x0 (pixels), or None
    name0, name1     str (file names as listed)
    image_size0/1    (2,) int64 array (w, h) of the returned images
    pair_index       int

No item value is a tuple or list: mmengine's ``pseudo_collate`` would
transpose those across the batch.

Batches: use mmengine's ``pseudo_collate`` (the default ``collate_fn``); it
turns the list of item dicts into a dict of lists, which
:func:`vision_sparse.models.matchers.to_pair_list` turns back into a list of
dicts inside the models.

Pixel convention: integer coordinates at pixel centres.  Resizing by
``s = new / old`` maps ``x' = (x + 0.5) s - 0.5``, so ``fx' = s fx`` and
``cx' = (cx + 0.5) s - 0.5`` (LoFTR / SuperGlue scale ``cx`` by ``s`` only;
the difference is below half a pixel).
"""
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from torch.utils.data import Dataset

from vision_sparse.registry import DATASETS
from vision_sparse.structures.cameras import scale_intrinsics

__all__ = [
    'ScanNetPairsDataset', 'HPatchesDataset', 'parse_pairs_with_gt', 'read_rgb',
    'resize_image_and_K', 'rotate_image_and_K', 'pixel_scale_matrix'
]

ResizeArg = Union[None, int, Sequence[int]]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def read_rgb(path: str) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB.

    Raises:
        FileNotFoundError: naming the path when it does not exist.
        OSError: when OpenCV cannot decode it.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'image not found: {path}')
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f'could not decode image: {path}')
    return np.ascontiguousarray(img[..., ::-1])


def _target_size(w: int, h: int, resize: ResizeArg) -> Tuple[int, int]:
    if resize is None:
        return w, h
    if isinstance(resize, (int, np.integer)):
        if resize <= 0:
            raise ValueError(f'resize must be None, a positive max side or (w, h), got {resize}')
        s = min(1.0, resize / max(w, h))
        return max(1, int(round(w * s))), max(1, int(round(h * s)))
    if len(resize) != 2 or min(resize) <= 0:
        raise ValueError(f'resize must be None, a positive max side or (w, h), got {resize}')
    return int(resize[0]), int(resize[1])


def pixel_scale_matrix(sx: float, sy: float) -> np.ndarray:
    """``(3, 3)`` map of pixel coordinates under a resize by ``(sx, sy)`` (pixel centres)."""
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], np.float64)


def resize_image_and_K(image: np.ndarray, K: Optional[np.ndarray], resize: ResizeArg
                       ) -> Tuple[np.ndarray, Optional[np.ndarray], np.ndarray]:
    """Resize an image and update its intrinsics.

    Args:
        image (np.ndarray): ``(H, W, 3)``.
        K (np.ndarray | None): ``(3, 3)`` intrinsics of ``image``.
        resize (None | int | (w, h)): None keeps the size; an int caps the
            longer side (never upsamples); ``(w, h)`` is the exact new size.

    Returns:
        tuple: the image, ``K`` for it (or None) and ``S`` (3, 3), the pixel
        map old -> new (see :func:`pixel_scale_matrix`).
    """
    h, w = image.shape[:2]
    nw, nh = _target_size(w, h, resize)
    if (nw, nh) == (w, h):
        return image, None if K is None else K.copy(), np.eye(3)
    interp = cv2.INTER_AREA if nw * nh < w * h else cv2.INTER_LINEAR
    out = cv2.resize(image, (nw, nh), interpolation=interp)
    S = pixel_scale_matrix(nw / w, nh / h)
    return out, None if K is None else scale_intrinsics(K, nw / w, nh / h), S


def rotate_image_and_K(image: np.ndarray, K: np.ndarray, k: int
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotate an image by ``k * 90`` degrees counter-clockwise (``np.rot90``).

    The camera rotates about its optical axis with it: a camera-frame point
    ``X`` becomes ``R_z @ X`` in the new frame.

    Args:
        image (np.ndarray): ``(H, W, ...)``.
        K (np.ndarray): ``(3, 3)`` intrinsics.
        k (int): number of quarter turns (any integer, taken modulo 4).

    Returns:
        tuple: rotated image, its ``K`` and ``R_z`` (3, 3).
    """
    K = np.asarray(K, np.float64).copy()
    R = np.eye(3)
    for _ in range(k % 4):
        w = image.shape[1]
        image = np.rot90(image)
        # new x = old y, new y = (W - 1) - old x
        K = np.array([[K[1, 1], 0, K[1, 2]], [0, K[0, 0], w - 1 - K[0, 2]], [0, 0, 1]])
        R = np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 1]], np.float64) @ R
    return np.ascontiguousarray(image), K, R


def parse_pairs_with_gt(path: str) -> List[Dict[str, Any]]:
    """Parse a SuperGlue / LoFTR "pairs with gt" text file.

    Each non-empty, non-``#`` line: ``name0 name1 rot0 rot1`` then ``K0`` (9),
    ``K1`` (9) and ``T_0to1`` (16), all row-major (38 tokens).

    Args:
        path (str): the text file.

    Returns:
        list[dict]: ``name0``, ``name1``, ``rot0``, ``rot1`` (int), ``K0``,
        ``K1`` (3, 3), ``T_0to1`` (4, 4) float64, ``line`` (1-based).

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: naming the file and line for a malformed line (wrong
            token count, non-numbers, non-rigid ``T_0to1`` last row).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'pair file not found: {path}')
    pairs = []
    with open(path, 'r') as f:
        for lineno, line in enumerate(f, 1):
            tok = line.split()
            if not tok or tok[0].startswith('#'):
                continue
            if len(tok) != 38:
                raise ValueError(f'{path}:{lineno}: expected 38 fields (name0 name1 rot0 rot1 '
                                 f'K0(9) K1(9) T_0to1(16)), got {len(tok)}')
            try:
                rot0, rot1 = int(tok[2]), int(tok[3])
                nums = np.array([float(v) for v in tok[4:]], np.float64)
            except ValueError as err:
                raise ValueError(f'{path}:{lineno}: non-numeric field: {err}') from None
            K0, K1, T = nums[:9].reshape(3, 3), nums[9:18].reshape(3, 3), nums[18:].reshape(4, 4)
            if not np.isfinite(nums).all():
                raise ValueError(f'{path}:{lineno}: NaN or inf in K0 / K1 / T_0to1')
            if not np.allclose(T[3], [0, 0, 0, 1]):
                raise ValueError(f'{path}:{lineno}: T_0to1 last row must be 0 0 0 1, got {T[3]}')
            if K0[0, 0] <= 0 or K0[1, 1] <= 0 or K1[0, 0] <= 0 or K1[1, 1] <= 0:
                raise ValueError(f'{path}:{lineno}: focal lengths must be positive')
            pairs.append(dict(name0=tok[0], name1=tok[1], rot0=rot0, rot1=rot1, K0=K0, K1=K1,
                              T_0to1=T, line=lineno))
    return pairs


def _size(image: np.ndarray) -> np.ndarray:
    """``(2,)`` int64 ``(w, h)`` (an array, not a tuple: see the module docstring)."""
    return np.array([image.shape[1], image.shape[0]], np.int64)


def _join(*parts: Optional[str]) -> str:
    return osp.join(*[p for p in parts if p])


# --------------------------------------------------------------------------
# datasets
# --------------------------------------------------------------------------
class _PairListDataset(Dataset):
    """A list of image pairs (``self.pairs``): length and checked indexing."""

    pairs: List[Dict[str, Any]]

    def __len__(self) -> int:
        return len(self.pairs)

    def _pair(self, idx: int) -> Dict[str, Any]:
        if not -len(self) <= idx < len(self):
            raise IndexError(f'pair index {idx} out of range for {len(self)} pairs')
        return self.pairs[idx]


@DATASETS.register_module()
class ScanNetPairsDataset(_PairListDataset):
    """Pairs with relative-pose ground truth from a "pairs with gt" list.

    Args:
        data_root (str): folder the other paths are relative to ('' = cwd).
        pair_file (str): the pair list (see :func:`parse_pairs_with_gt`).
        image_dir (str): folder of the images named in the list.
        resize (None | int | (w, h)): None keeps the stored size; an int caps
            the longer side; ``(w, h)`` (e.g. ``(640, 480)`` for the ScanNet
            protocol) sets it. ``K0`` / ``K1`` follow.
        max_pairs (int, optional): keep the first ``max_pairs`` pairs.

    Item keys: see the module docstring (``H_0to1`` is None).

    Raises:
        FileNotFoundError: naming the missing pair file or image (all images
            are checked when the dataset is built).
        ValueError: naming file and line of a malformed pair line.
    """

    METAINFO = dict(task='relative_pose')

    def __init__(self, data_root: str = '', pair_file: str = 'pairs.txt', image_dir: str = '',
                 resize: ResizeArg = None, max_pairs: Optional[int] = None) -> None:
        super().__init__()
        self.data_root = data_root
        self.pair_file = _join(data_root, pair_file)
        self.image_dir = _join(data_root, image_dir)
        _target_size(1, 1, resize)  # validates the argument
        self.resize = tuple(resize) if isinstance(resize, (list, tuple)) else resize
        if max_pairs is not None and max_pairs < 0:
            raise ValueError(f'max_pairs must be None or >= 0, got {max_pairs}')
        pairs = parse_pairs_with_gt(self.pair_file)
        self.pairs = pairs if max_pairs is None else pairs[:max_pairs]
        for p in self.pairs:
            for key in ('name0', 'name1'):
                path = _join(self.image_dir, p[key])
                if not osp.isfile(path):
                    raise FileNotFoundError(f'image not found: {path} (line {p["line"]} of '
                                            f'{self.pair_file})')

    @property
    def metainfo(self) -> dict:
        return dict(self.METAINFO, pair_file=self.pair_file, num_pairs=len(self.pairs))

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        p = self._pair(idx)
        images, Ks, Rz = [], [], []
        for i in (0, 1):
            img = read_rgb(_join(self.image_dir, p[f'name{i}']))
            K = p[f'K{i}']
            R = np.eye(3)
            if p[f'rot{i}']:
                img, K, R = rotate_image_and_K(img, K, p[f'rot{i}'])
            img, K, _ = resize_image_and_K(img, K, self.resize)
            images.append(img)
            Ks.append(K)
            Rz.append(R)
        T = p['T_0to1'].copy()
        if p['rot0'] or p['rot1']:
            R0, R1 = np.eye(4), np.eye(4)
            R0[:3, :3], R1[:3, :3] = Rz[0], Rz[1]
            T = R1 @ T @ R0.T
        return dict(image0=images[0], image1=images[1], K0=Ks[0], K1=Ks[1], T_0to1=T,
                    H_0to1=None, name0=p['name0'], name1=p['name1'],
                    image_size0=_size(images[0]), image_size1=_size(images[1]),
                    pair_index=int(idx))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(pair_file={self.pair_file!r}, pairs={len(self)}, '
                f'resize={self.resize})')


@DATASETS.register_module()
class HPatchesDataset(_PairListDataset):
    """HPatches homography pairs: image 1 against images 2..6 of every sequence.

    Args:
        data_root (str): folder holding the sequence folders (``i_*`` for
            illumination changes, ``v_*`` for viewpoint changes), each with
            ``1.ppm .. 6.ppm`` and ``H_1_2 .. H_1_6`` (3x3 text).
        resize (None | int | (w, h)): per-image resize; ``H_0to1`` follows.
        max_pairs (int, optional): keep the first ``max_pairs`` pairs.
        sequences (str): ``'all'``, ``'i'`` or ``'v'``.
        exclude (Sequence[str]): sequence names to skip.

    Item keys: see the module docstring (``K0``, ``K1``, ``T_0to1`` are None;
    ``name0`` / ``name1`` are ``'<seq>/1.ppm'`` / ``'<seq>/<k>.ppm'``).

    Raises:
        FileNotFoundError: missing root, no sequence, missing image or H file.
        ValueError: malformed H file (named).
    """

    METAINFO = dict(task='homography')

    def __init__(self, data_root: str, resize: ResizeArg = None, max_pairs: Optional[int] = None,
                 sequences: str = 'all', exclude: Sequence[str] = ()) -> None:
        super().__init__()
        if sequences not in ('all', 'i', 'v'):
            raise ValueError(f"sequences must be 'all', 'i' or 'v', got {sequences!r}")
        if not osp.isdir(data_root):
            raise FileNotFoundError(f'HPatches folder not found: {data_root}')
        _target_size(1, 1, resize)
        self.data_root = data_root
        self.resize = tuple(resize) if isinstance(resize, (list, tuple)) else resize
        prefixes = ('i_', 'v_') if sequences == 'all' else (f'{sequences}_',)
        seqs = sorted(d for d in os.listdir(data_root)
                      if d.startswith(prefixes) and osp.isdir(osp.join(data_root, d))
                      and d not in set(exclude))
        if not seqs:
            raise FileNotFoundError(f'no HPatches sequences ({"/".join(p + "*" for p in prefixes)}) '
                                    f'in {data_root}')
        self.pairs = []
        for seq in seqs:
            folder = osp.join(data_root, seq)
            ref = self._image_path(folder, 1)
            for k in range(2, 7):
                h_path = osp.join(folder, f'H_1_{k}')
                if not osp.isfile(h_path):
                    raise FileNotFoundError(f'homography file not found: {h_path}')
                self.pairs.append(dict(seq=seq, path0=ref, path1=self._image_path(folder, k),
                                       H=self._read_H(h_path), k=k))
        if max_pairs is not None:
            self.pairs = self.pairs[:max_pairs]

    @staticmethod
    def _image_path(folder: str, k: int) -> str:
        for ext in ('ppm', 'png', 'jpg'):
            path = osp.join(folder, f'{k}.{ext}')
            if osp.isfile(path):
                return path
        raise FileNotFoundError(f'image not found: {osp.join(folder, f"{k}.ppm")}')

    @staticmethod
    def _read_H(path: str) -> np.ndarray:
        try:
            H = np.loadtxt(path, dtype=np.float64)
        except ValueError as err:
            raise ValueError(f'{path}: not a 3x3 matrix of numbers ({err})') from None
        if H.shape != (3, 3) or not np.isfinite(H).all() or abs(np.linalg.det(H)) < 1e-12:
            raise ValueError(f'{path}: expected a finite, invertible 3x3 homography, got '
                             f'shape {H.shape}')
        return H

    @property
    def metainfo(self) -> dict:
        return dict(self.METAINFO, data_root=self.data_root, num_pairs=len(self.pairs))

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        p = self._pair(idx)
        img0, _, S0 = resize_image_and_K(read_rgb(p['path0']), None, self.resize)
        img1, _, S1 = resize_image_and_K(read_rgb(p['path1']), None, self.resize)
        H = S1 @ p['H'] @ np.linalg.inv(S0)
        return dict(image0=img0, image1=img1, K0=None, K1=None, T_0to1=None, H_0to1=H / H[2, 2],
                    name0=f"{p['seq']}/1.ppm", name1=f"{p['seq']}/{p['k']}.ppm",
                    image_size0=_size(img0), image_size1=_size(img1), pair_index=int(idx))

    def __repr__(self) -> str:
        return f'{type(self).__name__}(data_root={self.data_root!r}, pairs={len(self)})'
