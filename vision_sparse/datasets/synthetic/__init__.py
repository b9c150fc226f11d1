"""Synthetic data with exact ground truth, generated on the fly.

:mod:`.scene`: posed RGB-D views of a textured room (the ``'synthetic'`` format
of :class:`~vision_sparse.datasets.RelocalizationDataset`).
"""
from .scene import (SyntheticScene, TexturedQuad, load_texture_photos, look_at_pose,
                    make_orbit_trajectory, make_strafe_trajectory, make_textured_room,
                    perturb_pose, synthetic_relocalization_scene)

__all__ = [
    'TexturedQuad', 'SyntheticScene', 'load_texture_photos', 'make_textured_room',
    'look_at_pose', 'make_orbit_trajectory', 'make_strafe_trajectory', 'perturb_pose',
    'synthetic_relocalization_scene'
]
