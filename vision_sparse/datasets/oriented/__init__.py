"""Oriented-object datasets (DOTA-v1.0, DIOR-R, point-label folders), their transforms,
tiling of large images and single-point labels (PointOBB)."""
from .base import OrientedDetDataset, image_size, polygon_problems
from .dior import DIOR_CLASSES, DIORDataset
from .dota import DOTA_CLASSES, DOTADataset
from .points import (POINT_MODES, load_point_txt, parse_point_lines, point_rng, sample_points,
                     write_point_txt)
from .tiling import (clip_polygon, merge_tile_detections, parse_tile_name, polygon_area,
                     split_dota_folder, split_image, split_objects, tile_name, tile_windows)
from .transforms import (LoadOrientedAnnotations, PackOrientedDetInputs, RandomFlipOriented,
                         RandomRotateOriented, ResizeOriented, SafeLoadImageFromFile,
                         image_bytes_problem)

__all__ = [
    'OrientedDetDataset', 'DOTADataset', 'DIORDataset', 'DOTA_CLASSES', 'DIOR_CLASSES',
    'image_size', 'polygon_problems', 'POINT_MODES', 'point_rng', 'sample_points',
    'parse_point_lines', 'load_point_txt', 'write_point_txt', 'tile_windows', 'clip_polygon',
    'polygon_area', 'split_objects', 'tile_name', 'parse_tile_name', 'split_image',
    'split_dota_folder', 'merge_tile_detections', 'SafeLoadImageFromFile',
    'LoadOrientedAnnotations', 'ResizeOriented', 'RandomFlipOriented', 'RandomRotateOriented',
    'PackOrientedDetInputs',
    'image_bytes_problem'
]
