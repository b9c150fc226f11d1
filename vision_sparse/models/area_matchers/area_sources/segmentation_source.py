"""A SAM-free area source: multi-scale areas from a superpixel hierarchy.

A stand-in for SAM where no SAM checkpoint is available (and on CPU-only
machines, where SAM ViT-H takes minutes per image). It produces nested areas at
several scales, like SAM's automatic masks cleaned and stacked into an Area
Graph, but the areas follow colour and layout only, not objects: expect fewer
semantically consistent areas than with SAM (see ``docs/a2pm.md``).
"""
from typing import Optional, Sequence

import numpy as np

from vision_sparse.registry import MODELS
from vision_sparse.structures.areas import AreaSet

from .base import BaseAreaSource
from .superpixels import felzenszwalb, merge_hierarchy, slic


@MODELS.register_module()
class SegmentationAreaSource(BaseAreaSource):
    """Areas from hierarchical merging of graph-based or SLIC superpixels.

    Args:
        method (str): ``'felzenszwalb'`` (graph-based superpixels) or
            ``'slic_hierarchy'`` (SLIC superpixels); both are then merged
            greedily (:func:`merge_hierarchy`).
        snapshot_sizes (Sequence[int]): region counts at which the merge
            hierarchy is sampled; every region of every snapshot is an area
            candidate.
        felzenszwalb_scale (float): ``k`` of the graph-based segmentation for a
            320x240 working image (scaled with the working image's area, like
            ``felzenszwalb_min_size``, px).
        n_segments (int): SLIC superpixel count.
        compactness (float): SLIC compactness.
        max_side (int): working resolution, px (longer side). Default 256:
            areas are coarse, and the graph-based segmentation is a Python
            loop over pixel edges.
        clean (dict): cleaning options, see :class:`BaseAreaSource`.
        keep_masks (bool): return masks.

    Example:
        >>> src = SegmentationAreaSource()
        >>> areas = src(image)          # (H, W, 3) uint8 RGB -> AreaSet
    """

    default_conf = dict(
        BaseAreaSource.default_conf,
        method='felzenszwalb',
        snapshot_sizes=(48, 24, 12, 6, 3),
        felzenszwalb_scale=200.0,
        felzenszwalb_sigma=0.8,
        felzenszwalb_min_size=40,
        n_segments=250,
        compactness=12.0,
        max_side=256,
    )

    def __init__(self, **conf):
        super().__init__(**conf)
        if self.conf['method'] not in ('felzenszwalb', 'slic_hierarchy'):
            raise ValueError("method must be 'felzenszwalb' or "
                             f"'slic_hierarchy', got {self.conf['method']!r}")
        sizes: Sequence[int] = self.conf['snapshot_sizes']
        if not sizes or min(sizes) < 1:
            raise ValueError('snapshot_sizes must be positive region counts, '
                             f'got {sizes}')

    def superpixels(self, image: np.ndarray) -> np.ndarray:
        """``(H, W)`` int32 superpixel labels of a working-size image."""
        c = self.conf
        if c['method'] == 'felzenszwalb':
            area_scale = image.shape[0] * image.shape[1] / (240.0 * 320.0)
            return felzenszwalb(image, c['felzenszwalb_scale'] * area_scale,
                                c['felzenszwalb_sigma'],
                                max(4, int(c['felzenszwalb_min_size']
                                           * area_scale)))
        return slic(image, c['n_segments'], c['compactness'])

    def segment(self, image: np.ndarray, name: Optional[str] = None) -> AreaSet:
        labels = self.superpixels(image)
        regions = merge_hierarchy(image, labels, self.conf['snapshot_sizes'])
        if not regions:
            return AreaSet.empty(image.shape[:2], with_masks=True)
        lut = np.zeros((len(regions), int(labels.max()) + 1), bool)
        for k, members in enumerate(regions):
            lut[k, members] = True
        masks = lut[:, labels]  # (K, H, W)
        return AreaSet.from_masks(masks)
