"""RelocInferencer: a query image and its intrinsics in, the camera pose in a FaVoR map out."""
import os
import os.path as osp
import time
from typing import Any, Dict, Optional, Sequence

import numpy as np

from vision_sparse.structures.results import timed
from .base import BaseInferencer, ImageLike, as_matrix, load_image

__all__ = ['RelocInferencer']


class RelocInferencer(BaseInferencer):
    """Relocalize query images in a saved FaVoR landmark map, from a config.

    The config (``configs/favor/*``) gives the relocalizer and its feature
    extractor, which must be the one the map was built with (checked on
    load). The inferencer never builds a map: make one with
    ``tools/favor_build_map.py CONFIG --out MAP``.

    Args:
        config (str | PathLike | dict | Config): a FaVoR config (file or dict).
        map_file (str, optional): the landmark map; default the config's
            ``model.map_path``.
        checkpoint (str, optional): weights (see :class:`BaseInferencer`;
            FaVoR learns nothing outside the map, so usually None).
        device (str, optional): see :class:`BaseInferencer`.
        cfg_options (dict, optional): config overrides (dotted keys).

    Call ``inferencer(query_img, K, T_init=None)``:

    Args:
        query_img (str | PathLike | np.ndarray): image file or ``(H, W, 3)`` RGB
            uint8 array.
        K (array-like): ``(3, 3)`` intrinsics of the query as given (pixels).
        T_init (array-like, optional): ``(4, 4)`` initial camera-to-world pose;
            default the nearest mapping image by global retrieval.

    Returns:
        dict: the result contract (``success``, ``reason``, ``timings``: seconds
        of ``load``, ``relocalize``, ``total``) and

        * ``T_c2w`` (np.ndarray): ``(4, 4)`` float64 camera-to-world pose,
          metres (the last successful iteration); ``(0, 4)`` when not localized.
        * ``T_init`` ``(4, 4)``, ``init_name`` (str): the initial pose and the
          mapping image it came from ('' when given).
        * ``keypoints`` ``(N, 2)`` query pixels, ``landmarks`` ``(N, 3)`` world
          points, ``landmark_ids`` ``(N,)``, ``inliers`` ``(N,)`` bool: the
          2-D/3-D matches of the last completed iteration and its PnP inliers;
          ``num_inliers``, ``num_matches``, ``num_keypoints`` (int).
        * ``iterations`` (list[dict]), ``iteration_poses`` (list): per
          iteration, as :meth:`FaVoRRelocalizer.relocalize` documents.

    Raises:
        FileNotFoundError: (construction) no map file.
        ValueError: a config without a FaVoR relocalizer, a map built with
            another extractor, an unreadable image, malformed ``K`` / ``T_init``.
    """

    def __init__(self, config, map_file: Optional[str] = None, checkpoint: Optional[str] = None,
                 device=None, cfg_options: Optional[Dict] = None) -> None:
        super().__init__(config, checkpoint, device, cfg_options)
        if not (hasattr(self.model, 'relocalize') and hasattr(self.model, 'ensure_map')):
            raise ValueError('RelocInferencer needs a FaVoR config (model FaVoRRelocalizer), got '
                             f'model type {type(self.model).__name__}')
        map_file = os.fspath(map_file) if map_file is not None else self.model.map_path
        if map_file is None:
            raise ValueError('no landmark map: pass map_file or set model.map_path in the config')
        if not osp.isfile(map_file):
            raise FileNotFoundError(f'landmark map {map_file} does not exist; build it with '
                                    'tools/favor_build_map.py CONFIG --out MAP')
        self.map_file = map_file
        self.model.map_path = map_file
        self.model.mapping = None  # load, never build
        self.model.ensure_map()

    @property
    def landmark_map(self):
        """The loaded :class:`LandmarkMap`."""
        return self.model.landmark_map

    def __call__(self, query_img: ImageLike, K: Sequence, T_init: Optional[Sequence] = None
                 ) -> Dict[str, Any]:
        """The camera-to-world pose of ``query_img`` in the map; arguments and result
        as in the class docstring."""
        t_start = time.perf_counter()
        timings: Dict[str, float] = {}
        with timed(timings, 'load'):
            image = load_image(query_img, 'query_img')
            if image.ndim == 2:
                image = np.ascontiguousarray(np.repeat(image[..., None], 3, axis=2))
            K = as_matrix(K, (3, 3), 'K')
            if K is None:
                raise ValueError('K (3, 3) intrinsics of the query are required')
            T_init = as_matrix(T_init, (4, 4), 'T_init')
        with timed(timings, 'relocalize'):
            out = dict(self.model.relocalize(image, K, T_init=T_init))
        matches = out.pop('matches', None) or {}
        keypoints = np.asarray(matches.get('keypoints', np.zeros((0, 2))), np.float64)
        inliers = np.asarray(matches.get('inliers', np.zeros(0, bool)), bool).reshape(-1)
        T = out.get('T_c2w')
        out.update(T_c2w=np.asarray(T, np.float64) if T is not None and len(T) else np.zeros((0, 4)),
                   keypoints=keypoints.reshape(-1, 2),
                   landmarks=np.asarray(matches.get('landmarks', np.zeros((0, 3))),
                                        np.float64).reshape(-1, 3),
                   landmark_ids=np.asarray(matches.get('landmark_ids', np.zeros(0)),
                                           np.int64).reshape(-1),
                   inliers=inliers, num_inliers=int(inliers.sum()),
                   num_matches=len(keypoints))
        timings['total'] = time.perf_counter() - t_start
        return self.finish(out, timings)

    def draw(self, result: Dict[str, Any], query_img: ImageLike) -> np.ndarray:
        """The query with its matched keypoints (PnP inliers green, outliers red).

        Returns:
            np.ndarray: ``(H, W, 3)`` uint8 RGB picture.
        """
        from vision_sparse.visualization import draw_points, put_text_block
        img = load_image(query_img, 'query_img')
        img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img.copy()
        kp, inl = result['keypoints'], result['inliers']
        img = draw_points(img, kp[~inl], color=(255, 0, 0), radius=3)
        img = draw_points(img, kp[inl], color=(0, 200, 0), radius=3)
        text = [f"{result['num_inliers']} PnP inliers of {result['num_matches']} matches",
                result['reason'] or 'localized']
        return put_text_block(img, text)
