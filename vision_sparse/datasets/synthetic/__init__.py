"""Synthetic data with exact ground truth, generated on the fly.

:mod:`.scene`: posed RGB-D views of a textured room (the ``'synthetic'`` format
of :class:`~vision_sparse.datasets.RelocalizationDataset`).
:mod:`.aerial`: aerial images with exact oriented boxes made from real samples (PointOBB);
imported on first use of one of its names (it imports ``mmdet.datasets``, which
``import vision_sparse`` does not).
"""
from .scene import (SyntheticScene, TexturedQuad, load_texture_photos, look_at_pose,
                    make_orbit_trajectory, make_strafe_trajectory, make_textured_room,
                    perturb_pose, synthetic_relocalization_scene)

_AERIAL_NAMES = ('AERIAL_CLASSES', 'AERIAL_ANGLE_AGNOSTIC', 'AerialSources', 'make_aerial_image',
                 'sample_aerial_layout', 'render_aerial_layout', 'SyntheticAerialDataset',
                 'write_dota_folder')

__all__ = [
    'TexturedQuad', 'SyntheticScene', 'load_texture_photos', 'make_textured_room',
    'look_at_pose', 'make_orbit_trajectory', 'make_strafe_trajectory', 'perturb_pose',
    'synthetic_relocalization_scene', *_AERIAL_NAMES
]


def __getattr__(name: str):
    """The names of :mod:`.aerial`, imported on first use."""
    if name in _AERIAL_NAMES:
        from . import aerial
        return getattr(aerial, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')

