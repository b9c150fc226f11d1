"""Synthetic data with exact ground truth, generated on the fly.

:mod:`.scene`: posed RGB-D views of a textured room (the ``'synthetic'`` format
of :class:`~vision_sparse.datasets.RelocalizationDataset`).
:mod:`.aerial`: aerial images with exact oriented boxes made from real samples (PointOBB).
"""
from .aerial import (AERIAL_ANGLE_AGNOSTIC, AERIAL_CLASSES, AerialSources, SyntheticAerialDataset,
                     make_aerial_image, render_aerial_layout, sample_aerial_layout,
                     write_dota_folder)
from .scene import (SyntheticScene, TexturedQuad, load_texture_photos, look_at_pose,
                    make_orbit_trajectory, make_strafe_trajectory, make_textured_room,
                    perturb_pose, synthetic_relocalization_scene)

__all__ = [
    'TexturedQuad', 'SyntheticScene', 'load_texture_photos', 'make_textured_room',
    'look_at_pose', 'make_orbit_trajectory', 'make_strafe_trajectory', 'perturb_pose',
    'synthetic_relocalization_scene', 'AERIAL_CLASSES', 'AERIAL_ANGLE_AGNOSTIC', 'AerialSources',
    'make_aerial_image', 'sample_aerial_layout', 'render_aerial_layout', 'SyntheticAerialDataset',
    'write_dota_folder'
]
