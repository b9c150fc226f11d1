"""The common interface of area sources: ``source(image) -> AreaSet``."""
from abc import ABCMeta, abstractmethod
from typing import Dict, Optional

import numpy as np

from vision_sparse.structures.areas import AreaSet
from vision_sparse.utils.config import merge_conf
from vision_sparse.utils.image import check_image, resize_long_side

from ..area_cleaning import DEFAULT_CLEAN, clean_areas

__all__ = ['BaseAreaSource']


class BaseAreaSource(metaclass=ABCMeta):
    """Segments an image into areas, cleans them and returns an :class:`AreaSet`
    in the pixels of the input image.

    Subclasses implement :meth:`segment` on the image downscaled so that its
    longer side is at most ``max_side`` (the official code works at 640x480), and
    extend ``default_conf`` (``{**BaseAreaSource.default_conf, ...}``).

    Args:
        max_side (int, optional): working resolution (longer side, px); None
            keeps the input size.
        clean (dict | None): keyword arguments of
            :func:`~vision_sparse.models.area_matchers.area_cleaning.clean_areas`
            merged over its defaults (:data:`~vision_sparse.models.area_matchers.area_cleaning.DEFAULT_CLEAN`);
            None skips cleaning.
        keep_masks (bool): return masks (``(K, H, W)`` bool at the input size);
            False returns boxes only (less memory).
    """

    default_conf: Dict = dict(max_side=640, clean=DEFAULT_CLEAN, keep_masks=True)

    def __init__(self, **conf):
        self.conf = merge_conf(self.default_conf, conf, type(self).__name__)
        if self.conf['clean'] is not None:
            self.conf['clean'] = merge_conf(DEFAULT_CLEAN, self.conf['clean'], 'clean')
        ms = self.conf['max_side']
        if ms is not None and int(ms) < 16:
            raise ValueError(f'max_side must be >= 16 or None, got {ms}')

    @abstractmethod
    def segment(self, image: np.ndarray, name: Optional[str] = None) -> AreaSet:
        """Raw areas of ``image`` (``(h, w, 3)`` uint8 RGB at working size)."""

    def __call__(self, image, name: Optional[str] = None) -> AreaSet:
        """Areas of one image.

        Args:
            image: ``(H, W, 3)`` uint8 RGB (or ``(H, W)`` grey).
            name (str, optional): image file name; used by file-based sources.

        Returns:
            AreaSet: cleaned areas in pixels of ``image`` (boxes xyxy, scores,
            ``levels = -1``; masks ``(K, H, W)`` if ``keep_masks``).
        """
        img = check_image(image, 'image', rgb=True)
        h, w = img.shape[:2]
        small, _ = resize_long_side(img, self.conf['max_side'], upscale=False)
        raw = self.segment(small, name)
        if raw.image_size != small.shape[:2]:
            raw = raw.rescale(small.shape[:2])
        areas = (clean_areas(raw, **self.conf['clean'])
                 if self.conf['clean'] is not None else raw)
        if not self.conf['keep_masks']:
            areas = AreaSet(areas.boxes, areas.image_size, areas.scores,
                            areas.levels)
        return areas.rescale((h, w)) if areas.image_size != (h, w) else areas
