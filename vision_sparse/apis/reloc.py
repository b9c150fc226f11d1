"""RelocInferencer: a query image and its intrinsics in, the camera pose in a FaVoR map out."""
import os
import os.path as osp
import time
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

from vision_sparse.structures.results import timed
from .base import BaseInferencer, ImageLike, as_matrix, load_config, load_image

__all__ = ['RelocInferencer', 'build_landmark_map']


def build_landmark_map(config, map_file: Optional[str] = None, data_root: Optional[str] = None,
                       max_frames: Optional[int] = None, cfg_options: Optional[Dict] = None,
                       progress: Optional[Callable[[float, str], None]] = None,
                       show_progress: bool = False, log: Optional[Callable[[str], None]] = None):
    """Build the FaVoR landmark map of a config and save it (what ``tools/favor_build_map.py`` does).

    Tracking, triangulation and per-landmark voxel training on the mapping
    split the config names (``model.mapping.dataset``), with the options of
    ``model.mapping`` (e.g. shorter training:
    ``cfg_options={'model.mapping.trainer.iterations': 30}``). Load the saved
    file with ``RelocInferencer(config, map_file)``.

    Args:
        config (str | PathLike | dict | Config): a FaVoR config (``configs/favor/*``).
        map_file (str, optional): where to save the map; default the config's
            ``model.map_path``. Its folder is created.
        data_root (str, optional): scene folder (overrides
            ``model.mapping.dataset.data_root``).
        max_frames (int, optional): use at most this many mapping frames.
        cfg_options (dict, optional): config overrides (dotted keys).
        progress (callable, optional): ``progress(fraction, stage)`` with the
            fraction done in ``[0, 1]`` and a short description, called while
            the frames load (0), per tracked frame, per training step and at the
            end (1). Raise from it to cancel the build (the exception propagates
            and nothing is saved).
        show_progress (bool): tqdm bars on the terminal.
        log (callable, optional): receives one summary line per stage (default: silent).

    Returns:
        LandmarkMap: the map that was saved to ``map_file`` (``len(map)``
        landmarks, ``map.retrieval['poses']`` the mapping cameras).

    Raises:
        ValueError: a config without ``model.mapping.dataset`` or without any
            output file, a bad ``max_frames``, or a stage that left nothing
            (too few tracks, no landmark passing the PSNR filter).
        FileNotFoundError: ``data_root`` is not a folder.
    """
    from mmengine.registry import DefaultScope
    from vision_sparse.utils import register_all_modules
    cfg = load_config(config, cfg_options)
    model_cfg = cfg.get('model') or {}
    mapping = model_cfg.get('mapping')
    if not mapping or 'dataset' not in mapping:
        raise ValueError('config has no model.mapping.dataset: nothing to build a map from')
    mapping = mapping.to_dict() if hasattr(mapping, 'to_dict') else dict(mapping)
    dataset_cfg = dict(mapping.pop('dataset'))
    if data_root is not None:
        if not osp.isdir(data_root):
            raise FileNotFoundError(f'data_root {data_root} is not a folder')
        dataset_cfg['data_root'] = os.fspath(data_root)
    if max_frames is not None:
        if int(max_frames) != max_frames or max_frames < 2:
            raise ValueError(f'max_frames must be an int >= 2, got {max_frames!r}')
        dataset_cfg['max_frames'] = int(max_frames)
    dataset_cfg['lazy_init'] = False
    out = os.fspath(map_file) if map_file is not None else model_cfg.get('map_path')
    if not out:
        raise ValueError('no output file: pass map_file or set model.map_path in the config')
    report = progress if progress is not None else (lambda fraction, stage: None)
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'vision_sparse')):
        from vision_sparse.models.relocalizers import build_landmark_map as build_map
        from vision_sparse.registry import DATASETS, MODELS
        report(0.0, 'loading the mapping frames')
        dataset = DATASETS.build(dataset_cfg)
        extractor = MODELS.build(model_cfg.get('extractor', dict(type='DenseFeatureExtractor')))
        lmap = build_map(dataset.frames(), extractor, num_frames=len(dataset),
                         show_progress=show_progress, log=log or (lambda line: None),
                         progress=progress, **mapping)
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    lmap.save(out)
    return lmap


class RelocInferencer(BaseInferencer):
    """Relocalize query images in a saved FaVoR landmark map, from a config.

    The config (``configs/favor/*``) gives the relocalizer and its feature
    extractor, which must be the one the map was built with (checked on
    load). The inferencer never builds a map: make one with
    :func:`build_landmark_map` or ``tools/favor_build_map.py CONFIG --out MAP``.

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

    @property
    def mapping_poses(self) -> np.ndarray:
        """``(M, 4, 4)`` float64 camera-to-world poses of the mapping images (the
        retrieval database; ``(0, 4, 4)`` for a map saved without one)."""
        retrieval = self.landmark_map.retrieval or {}
        poses = retrieval.get('poses')
        if poses is None:
            return np.zeros((0, 4, 4))
        poses = poses.numpy() if hasattr(poses, 'numpy') else np.asarray(poses)
        return np.asarray(poses, np.float64).reshape(-1, 4, 4)

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

    def project_landmarks(self, T_c2w: Sequence, K: Sequence, image_size: Sequence[int],
                          border: float = 0.0) -> Dict[str, np.ndarray]:
        """Pixels of the map's landmark centres seen from a camera (pinhole, no rendering).

        Args:
            T_c2w (array-like): ``(4, 4)`` camera-to-world pose, metres.
            K (array-like): ``(3, 3)`` intrinsics, pixels.
            image_size (tuple[int, int]): ``(W, H)`` of the image, pixels.
            border (float): drop landmarks projecting closer than this to the edge.

        Returns:
            dict: ``uv`` ``(V, 2)`` float64 pixels, ``depth`` ``(V,)`` metres and
            ``landmark_ids`` ``(V,)`` int64 of the landmarks in front of the camera
            and inside the image.

        Raises:
            ValueError: malformed ``T_c2w``, ``K`` or ``image_size``.
        """
        T = as_matrix(T_c2w, (4, 4), 'T_c2w')
        K = as_matrix(K, (3, 3), 'K')
        if T is None or K is None:
            raise ValueError('T_c2w (4, 4) and K (3, 3) are required')
        if len(image_size) != 2 or min(image_size) < 1:
            raise ValueError(f'image_size must be (W, H) positive, got {tuple(image_size)!r}')
        centers = self.landmark_map.centers.numpy().astype(np.float64)
        cam = (centers - T[:3, 3]) @ T[:3, :3]  # R^T (X - c)
        z = cam[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            uv = (cam[:, :2] / z[:, None]) * K[[0, 1], [0, 1]] + K[:2, 2]
        w, h = image_size
        keep = ((z > 1e-6) & (uv[:, 0] >= border) & (uv[:, 0] <= w - 1 - border)
                & (uv[:, 1] >= border) & (uv[:, 1] <= h - 1 - border))
        ids = np.flatnonzero(keep)
        return dict(uv=uv[ids], depth=z[ids], landmark_ids=ids.astype(np.int64))

    def draw(self, result: Dict[str, Any], query_img: ImageLike, K: Optional[Sequence] = None
             ) -> np.ndarray:
        """The query with its matched keypoints (PnP inliers green, outliers red).

        With ``K`` the map's landmarks are also projected with the initial pose
        (yellow dots) and the estimated pose (blue dots): on a good estimate the
        blue dots sit on the scene points they belong to.

        Args:
            result (dict): the result of :meth:`__call__` on ``query_img``.
            query_img (str | PathLike | np.ndarray): the query.
            K (array-like, optional): ``(3, 3)`` intrinsics of the query.

        Returns:
            np.ndarray: ``(H, W, 3)`` uint8 RGB picture.
        """
        from vision_sparse.visualization import draw_points, put_text_block
        img = load_image(query_img, 'query_img')
        img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img.copy()
        size = (img.shape[1], img.shape[0])
        text = []
        if K is not None:
            init = result.get('T_init')
            if init is not None and np.shape(init) == (4, 4):
                img = draw_points(img, self.project_landmarks(init, K, size)['uv'],
                                  color=(240, 200, 0), radius=2)
            if np.shape(result['T_c2w']) == (4, 4):
                img = draw_points(img, self.project_landmarks(result['T_c2w'], K, size)['uv'],
                                  color=(0, 90, 255), radius=2)
            text.append('landmarks seen from: yellow = initial pose, blue = estimate')
        kp, inl = result['keypoints'], result['inliers']
        img = draw_points(img, kp[~inl], color=(255, 0, 0), radius=3)
        img = draw_points(img, kp[inl], color=(0, 200, 0), radius=3)
        text = [f"{result['num_inliers']} PnP inliers (green) of {result['num_matches']} "
                'matches (red: outliers)', result['reason'] or 'localized'] + text
        return put_text_block(img, text)
