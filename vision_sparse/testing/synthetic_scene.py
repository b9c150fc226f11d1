"""The synthetic relocalization scene of :mod:`vision_sparse.datasets.synthetic.scene`,
textured by default with the photos of the shared sample data.

The library functions take the sample-data folder as an explicit ``texture_root``
(procedural textures without it); tests, demos and benchmarks use these
versions, whose default is :func:`~vision_sparse.testing.data.shared_data_root`
(procedural textures when that folder is absent, as before).
"""
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np

from ..datasets.synthetic import scene as _scene
from ..datasets.synthetic.scene import (SyntheticScene, TexturedQuad, look_at_pose,
                                        make_orbit_trajectory, make_strafe_trajectory,
                                        perturb_pose)
from .data import shared_data_root

__all__ = [
    'TexturedQuad', 'SyntheticScene', 'load_texture_photos', 'make_textured_room',
    'look_at_pose', 'make_orbit_trajectory', 'make_strafe_trajectory', 'perturb_pose',
    'synthetic_relocalization_scene'
]

PathLike = Optional[Union[str, Path]]


def _or_shared(root: PathLike) -> PathLike:
    return root if root is not None else shared_data_root()


def load_texture_photos(count: int, seed: int = 0, max_side: int = 640,
                        data_root: PathLike = None) -> List[np.ndarray]:
    """:func:`vision_sparse.datasets.synthetic.scene.load_texture_photos` with
    ``data_root`` defaulting to the shared sample data.

    Args:
        count (int): number of textures.
        seed (int): selects and orders the photos (and seeds the fallback).
        max_side (int): longer side of the photos at most, pixels.
        data_root (str | Path, optional): sample-data folder; default :func:`shared_data_root`.

    Returns:
        list[np.ndarray]: ``count`` arrays (Ht, Wt, 3) uint8 RGB.
    """
    return _scene.load_texture_photos(count, seed, max_side, _or_shared(data_root))


def make_textured_room(*args, texture_root: PathLike = None, **kwargs) -> List[TexturedQuad]:
    """:func:`vision_sparse.datasets.synthetic.scene.make_textured_room` with
    ``texture_root`` defaulting to the shared sample data.

    Args:
        *args: positional arguments of the library function.
        texture_root (str | Path, optional): sample-data folder; default :func:`shared_data_root`.
        **kwargs: keyword arguments of the library function.

    Returns:
        list[TexturedQuad]: walls, floor, ceiling and box faces.
    """
    return _scene.make_textured_room(*args, texture_root=_or_shared(texture_root), **kwargs)


def synthetic_relocalization_scene(*args, texture_root: PathLike = None, **kwargs) -> Dict:
    """:func:`vision_sparse.datasets.synthetic.scene.synthetic_relocalization_scene`
    with ``texture_root`` defaulting to the shared sample data.

    Args:
        *args: positional arguments of the library function.
        texture_root (str | Path, optional): sample-data folder; default :func:`shared_data_root`.
        **kwargs: keyword arguments of the library function.

    Returns:
        dict: ``train`` and ``test`` frame lists, ``K`` and ``scene`` (see the library function).
    """
    return _scene.synthetic_relocalization_scene(
        *args, texture_root=_or_shared(texture_root), **kwargs)
