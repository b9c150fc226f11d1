"""Small, dependency-light parsers of annotation files (no dataset classes)."""
from .dior import load_dior_xml
from .dota import load_dota_txt, parse_dota_lines, write_dota_txt
from .nuscenes_info import (KITTI_CLASSES, NUSCENES_CLASSES, load_det3d_info,
                            load_points)

__all__ = [
    'load_dior_xml', 'load_dota_txt', 'parse_dota_lines', 'write_dota_txt', 'load_det3d_info',
    'load_points', 'KITTI_CLASSES', 'NUSCENES_CLASSES'
]
