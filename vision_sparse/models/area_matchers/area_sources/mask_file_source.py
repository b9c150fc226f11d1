"""Areas from precomputed mask files (the official A2PM-MESA workflow).

Two layouts are read:

* **SAM ``.npy``** (what the official code stores): a pickled object array /
  list of segment-anything dicts, each with ``segmentation`` ``(H, W)`` bool,
  ``bbox`` XYWH, ``area``, ``predicted_iou``, ``stability_score`` ...
* **label image** (``.png`` / ``.npy`` integer array, ``(H, W)``): one area per
  non-zero label, ``0`` = no area. A colour PNG is read as one label per
  distinct colour (black = no area).

Masks of another size than the image are resized (nearest neighbour), as the
official loader does. ``.npy`` object arrays are unpickled by
:func:`vision_sparse.utils.safe_pickle.load_npy` (containers, numbers, strings
and numpy arrays only: a crafted file cannot run code); ``trusted=True`` unpickles
anything (only for files you trust).
"""
import os.path as osp
from pathlib import Path
from typing import Optional, Tuple

import cv2
import numpy as np

from vision_sparse.registry import MODELS
from vision_sparse.structures.areas import AreaSet
from vision_sparse.utils.safe_pickle import load_npy

from .base import BaseAreaSource

__all__ = ['MaskFileAreaSource', 'load_mask_file']


@MODELS.register_module()
class MaskFileAreaSource(BaseAreaSource):
    """Loads per-image mask files from a folder.

    Args:
        root (str): folder of the mask files.
        pattern (str): file name for an image, formatted with ``stem`` (image
            file name without suffix) and ``name`` (full file name), e.g.
            ``'{stem}.npy'`` (default) or ``'{stem}_mask.png'``.
        trusted (bool): unpickle ``.npy`` object arrays without restriction
            (runs any code the file carries; default False).
        max_side, clean, keep_masks: see :class:`BaseAreaSource`.

    Call as ``source(image, name='scene0711_00_frame-001680.jpg')``; the
    ``name`` picks the file.

    Raises:
        ValueError: for a missing ``name`` or a malformed file.
        FileNotFoundError: if ``root`` or the mask file does not exist.
    """

    default_conf = dict(BaseAreaSource.default_conf, root=None, pattern='{stem}.npy',
                        trusted=False)

    def __init__(self, **conf):
        super().__init__(**conf)
        root = self.conf['root']
        if not root:
            raise ValueError('MaskFileAreaSource needs root=<folder of mask files>')
        if not osp.isdir(root):
            raise FileNotFoundError(f'mask folder not found: {root}')
        if '{stem}' not in self.conf['pattern'] and \
                '{name}' not in self.conf['pattern']:
            raise ValueError("pattern must contain '{stem}' or '{name}', got "
                             f"{self.conf['pattern']!r}")

    def path_for(self, name: str) -> Path:
        """Mask file path for an image file name."""
        base = Path(str(name)).name
        return Path(self.conf['root']) / self.conf['pattern'].format(
            stem=Path(base).stem, name=base)

    def segment(self, image: np.ndarray, name: Optional[str] = None) -> AreaSet:
        if not name:
            raise ValueError('MaskFileAreaSource needs the image file name: '
                             "call source(image, name='<image file name>')")
        return load_mask_file(self.path_for(name), image.shape[:2], trusted=self.conf['trusted'])


def _label_png(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return img.astype(np.int64)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        rgb = img[..., :3].astype(np.int64)
        code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        _, inv = np.unique(code, return_inverse=True)
        lab = inv.reshape(code.shape) + 1
        lab[code == 0] = 0  # black = no area
        return lab
    raise ValueError(f'label image must be (H, W) or (H, W, 3), got {img.shape}')


def load_mask_file(path, image_size: Tuple[int, int],
                   trusted: Optional[bool] = None) -> AreaSet:
    """Read one mask file (SAM ``.npy`` list of dicts, label ``.npy`` or label
    ``.png``) as an :class:`AreaSet` of size ``image_size = (H, W)``.

    ``trusted``: see :func:`vision_sparse.utils.safe_pickle.load_npy` (None reads
    ``VISION_SPARSE_TRUST_PICKLES``).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for an unknown suffix, unreadable / malformed content, or
            pickled objects other than containers / numbers / strings / numpy
            arrays (untrusted).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'mask file not found: {path}')
    suffix = path.suffix.lower()
    if suffix == '.npy':
        try:
            data = load_npy(path, trusted)
        except Exception as err:  # noqa: BLE001 - re-raised with the path
            raise ValueError(f'cannot read mask file {path}: {err}') from err
        if data.dtype == object:
            records = list(data.reshape(-1)) if data.ndim else [data.item()]
            if len(records) == 1 and isinstance(records[0], (list, tuple)):
                records = list(records[0])
            try:
                areas = (AreaSet.from_sam_records(records)
                         if records else AreaSet.empty(image_size, True))
            except ValueError as err:
                raise ValueError(f'malformed SAM mask file {path}: {err}') from err
        elif data.ndim == 2 and data.dtype.kind in 'iub':
            areas = AreaSet.from_label_map(data.astype(np.int64))
        else:
            raise ValueError(
                f'mask file {path} must hold a list of SAM dicts or an (H, W) '
                f'integer label image, got dtype {data.dtype} shape {data.shape}')
    elif suffix in ('.png', '.tif', '.tiff', '.bmp'):
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f'cannot read label image {path}')
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB if img.shape[2] == 3
                               else cv2.COLOR_BGRA2RGBA)
        try:
            areas = AreaSet.from_label_map(_label_png(img))
        except ValueError as err:
            raise ValueError(f'malformed label image {path}: {err}') from err
    else:
        raise ValueError(f'unknown mask file type {suffix!r} ({path}); '
                         'expected .npy or .png')
    if areas.image_size != tuple(image_size):
        areas = areas.rescale(image_size)
    return areas
