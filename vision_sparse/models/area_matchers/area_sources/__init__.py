"""Area sources: image -> AreaSet (SAM, precomputed mask files, SAM-free)."""
from .base import BaseAreaSource
from .mask_file_source import MaskFileAreaSource, load_mask_file
from .sam_source import SAMAreaSource
from .segmentation_source import SegmentationAreaSource

__all__ = ['BaseAreaSource', 'MaskFileAreaSource', 'SAMAreaSource',
           'SegmentationAreaSource', 'load_mask_file']
