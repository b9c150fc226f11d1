"""FaVoR relocalization: render landmark descriptors, match, PnP, iterate.

From an initial pose (the nearest training image by global retrieval), each
iteration projects the landmark centres, renders one descriptor per visible
landmark along the ray through its centre, matches them to the query's
keypoint descriptors (mutual nearest neighbour, cosine >= ``match_threshold``)
and solves P3P LO-RANSAC (``poselib``); the last iteration also refines the
pose (bundle adjustment on the inliers). The pose of each iteration starts the
next one, so more landmarks come into view as the estimate improves.

A pose is accepted only when the matches support it (FaVoR's own rule, more
than 3 RANSAC inliers, accepted 4-5 "inliers" on a random-noise query, 2-7 m
off, and any pose for a query whose K was wrong by 2x). Every iteration must
pass, else the query stops there:

* ``min_inliers`` RANSAC inliers (absolute count, default 12),
* ``min_inlier_ratio`` of the matches (default 0.2),
* **focal-length consistency** (``max_focal_deviation``, default 0.1): the
  inliers alone calibrate the camera (DLT of the 2-D/3-D inliers, RQ
  decomposition) and the focal lengths they imply must be within 10 % of the
  given ``K``'s. A wrong ``K`` (or a pose from wrong matches) implies another
  focal length; right poses agree within 0.4-3.5 % (synthetic room, 7-Scenes).
  Skipped when the inlier landmarks are nearly coplanar (the DLT is then
  degenerate) - the other checks still apply.

and the last two completed iterations must agree within ``max_pose_change``
(5 cm, 5 deg by default): a pose that still jumps between iterations has not
converged. A query is *not localized* (``success=False``, ``T_c2w=None``, the
``reason`` says which check failed) when no landmark projects into the image,
fewer than 4 matches are found, the first iteration's pose is not supported,
or the last two poses disagree. Iterations after a failure are not run (the
metric counts them as infinite error, as the official evaluation does), and
the last supported pose is returned (``success=True``, ``reason=''``, the later
failure in ``stop_reason``). Every result carries the seconds spent per stage
in ``timings``.

Poses are camera-to-world ``T_c2w`` (4, 4), metres.
"""
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.model import BaseModel
from torch import Tensor

from ...registry import DATASETS, MODELS
from ...evaluation.functional.relocalization import absolute_pose_error
from ...structures.cameras import check_intrinsics
from ...structures.results import finalize_result, timed
from ...utils.config import merge_conf
from .feature_extractor import build_extractor, image_to_tensor
from .landmark_map import LandmarkMap
from .mapping import build_landmark_map
from .retrieval import GlobalRetrieval
from .tracker import mutual_nn_match

__all__ = ['FaVoRRelocalizer', 'implied_focal_lengths']


def implied_focal_lengths(pts2d: np.ndarray, pts3d: np.ndarray, min_spread: float = 0.02
                          ) -> Optional[Tuple[float, float]]:
    """Focal lengths a set of 2-D/3-D correspondences implies on its own.

    Fits a projection matrix ``P = K [R | t]`` by the normalised direct linear
    transform and splits its left 3 x 3 block with an RQ decomposition.

    Args:
        pts2d (np.ndarray): ``(N, 2)`` pixels.
        pts3d (np.ndarray): ``(N, 3)`` world points (any units).
        min_spread (float): smallest / largest singular value of the centred 3-D
            points below which they count as coplanar (the DLT is then
            degenerate) and None is returned.

    Returns:
        tuple[float, float] | None: ``(fx, fy)`` in pixels, or None when
        ``N < 6``, the points are nearly coplanar or the fit is degenerate.
    """
    import scipy.linalg
    x2 = np.asarray(pts2d, np.float64).reshape(-1, 2)
    x3 = np.asarray(pts3d, np.float64).reshape(-1, 3)
    n = len(x2)
    if n < 6 or not (np.isfinite(x2).all() and np.isfinite(x3).all()):
        return None
    c3 = x3 - x3.mean(0)
    sv3 = np.linalg.svd(c3, compute_uv=False)
    if sv3[0] <= 0 or sv3[2] / sv3[0] < min_spread:
        return None
    c2 = x2 - x2.mean(0)
    s2 = np.sqrt(2) / max(np.linalg.norm(c2, axis=1).mean(), 1e-12)
    s3 = np.sqrt(3) / np.linalg.norm(c3, axis=1).mean()
    T2 = np.array([[s2, 0, -s2 * x2.mean(0)[0]], [0, s2, -s2 * x2.mean(0)[1]], [0, 0, 1]])
    T3 = np.eye(4)
    T3[:3, :3] *= s3
    T3[:3, 3] = -s3 * x3.mean(0)
    xh, Xh = c2 * s2, np.c_[c3 * s3, np.ones(n)]
    A = np.zeros((2 * n, 12))
    A[0::2, 0:4], A[0::2, 8:12] = Xh, -xh[:, :1] * Xh
    A[1::2, 4:8], A[1::2, 8:12] = Xh, -xh[:, 1:] * Xh
    P = np.linalg.inv(T2) @ np.linalg.svd(A)[2][-1].reshape(3, 4) @ T3
    Kd = scipy.linalg.rq(P[:, :3])[0]
    if not np.isfinite(Kd).all() or abs(Kd[2, 2]) < 1e-12:
        return None
    Kd = Kd / Kd[2, 2]
    return float(abs(Kd[0, 0])), float(abs(Kd[1, 1]))


@MODELS.register_module()
class FaVoRRelocalizer(BaseModel):
    """Camera relocalization against a FaVoR landmark map.

    Args:
        extractor (dict | DenseFeatureExtractor, optional): feature extractor
            (must be the one the map was built with: checked on load).
        map_path (str, optional): landmark map file.
        mapping (dict, optional): how to build the map when ``map_path`` does not
            exist: ``dataset`` (a dataset config, e.g. ``RelocalizationDataset``
            with ``split='train'``) and optional ``tracker``, ``triangulator``,
            ``trainer``, ``retrieval`` option dicts (see :func:`build_landmark_map`).
            The built map is saved to ``map_path``.
        data_preprocessor (dict, optional): mmengine data preprocessor.
        init_cfg (dict, optional): unused (no learned weights).
        **conf: overrides of :attr:`default_conf`:

            * ``num_iterations`` (int): render-match-PnP iterations (3).
            * ``match_threshold`` (float): minimum cosine of a match (0.7-0.8).
            * ``reprojection_error`` (float): RANSAC inlier threshold, pixels.
            * ``min_inliers`` (int): fewer inliers = not localized (12; FaVoR's
              rule is 4: random-noise queries reach 4-5 "inliers").
            * ``min_inlier_ratio`` (float): a pose whose inliers are a smaller
              fraction of the matches is rejected too (0.2; 0 = count only).
              With few, mostly wrong matches P3P RANSAC still finds a handful of
              "inliers" and returns a wrong pose.
            * ``max_focal_deviation`` (float | None): largest relative
              difference between the focal lengths implied by the inliers (DLT)
              and the given ``K``'s (0.1); None disables the check.
            * ``min_spread`` (float): the focal check needs inlier landmarks
              that are not nearly coplanar: smallest / largest singular value
              of the centred points at least this (0.02), else it is skipped.
            * ``max_pose_change`` (tuple[float, float] | None): the last two
              completed iterations must agree within ``(metres, degrees)``
              ((0.05, 5.0)); None disables the check.
            * ``refine_iterations`` (int): bundle-adjustment iterations on the last round.
            * ``ransac_min_iterations`` / ``ransac_max_iterations`` (int).
            * ``border`` (float): landmarks projecting closer to the edge are skipped, px.
            * ``min_depth`` (float): landmarks closer than this are skipped, metres.
            * ``max_landmarks`` (int): keep the best-PSNR landmarks on load (0 = all).
            * ``retrieval_keypoints`` (int): query descriptors used for retrieval.
            * ``seed`` (int): RANSAC seed.
            * ``show_progress`` (bool): progress bars while building a map.
    """

    default_conf = dict(
        num_iterations=3, match_threshold=0.7,
        # pose: P3P LO-RANSAC, then bundle adjustment on the last iteration
        reprojection_error=5.0, min_inliers=12, min_inlier_ratio=0.2, refine_iterations=100,
        # acceptance: the pose must be supported by its inliers (module docstring)
        max_focal_deviation=0.1, min_spread=0.02, max_pose_change=(0.05, 5.0),
        ransac_min_iterations=100, ransac_max_iterations=10000, seed=0,
        # which landmarks are rendered
        border=5.0, min_depth=0.05, max_landmarks=0,
        retrieval_keypoints=512, show_progress=True)

    def __init__(self, extractor=None, map_path: Optional[str] = None,
                 mapping: Optional[Dict] = None, data_preprocessor: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None, **conf):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.conf = merge_conf(self.default_conf, conf, type(self).__name__)
        if self.conf['num_iterations'] < 1:
            raise ValueError(f"num_iterations must be >= 1, got {self.conf['num_iterations']}")
        if not 0.0 <= self.conf['min_inlier_ratio'] <= 1.0:
            raise ValueError('min_inlier_ratio must be in [0, 1], got '
                             f"{self.conf['min_inlier_ratio']}")
        if not 0.0 <= self.conf['match_threshold'] <= 1.0:
            raise ValueError('match_threshold must be in [0, 1], got '
                             f"{self.conf['match_threshold']}")
        if int(self.conf['min_inliers']) < 4:
            raise ValueError(f"min_inliers must be >= 4 (P3P + one check), got "
                             f"{self.conf['min_inliers']}")
        fd = self.conf['max_focal_deviation']
        if fd is not None and not (np.isfinite(fd) and fd > 0):
            raise ValueError(f'max_focal_deviation must be None or > 0, got {fd!r}')
        mpc = self.conf['max_pose_change']
        if mpc is not None and (len(mpc) != 2 or not all(np.isfinite(v) and v > 0 for v in mpc)):
            raise ValueError('max_pose_change must be None or (metres > 0, degrees > 0), got '
                             f'{mpc!r}')
        self.extractor = build_extractor(extractor)
        self.map_path = map_path
        self.mapping = mapping
        self.landmark_map: Optional[LandmarkMap] = None
        self.retrieval: Optional[GlobalRetrieval] = None

    # ------------------------------------------------------------------ the map
    def set_map(self, landmark_map: LandmarkMap) -> None:
        """Use a map (checked against the extractor's descriptor size and type)."""
        if landmark_map.descriptor_dim != self.extractor.descriptor_dim or \
                landmark_map.feature_type != self.extractor.feature_type:
            raise ValueError(f'the landmark map has {landmark_map.descriptor_dim}-d '
                             f'{landmark_map.feature_type!r} descriptors but the extractor gives '
                             f'{self.extractor.descriptor_dim}-d {self.extractor.feature_type!r}')
        n = self.conf['max_landmarks']
        if n and len(landmark_map) > n:
            order = torch.argsort(landmark_map.psnr.nan_to_num(-1e9), descending=True)[:n]
            landmark_map = landmark_map.select(order)
        self.landmark_map = landmark_map
        self.retrieval = (GlobalRetrieval.from_state_dict(landmark_map.retrieval)
                          if landmark_map.retrieval is not None else None)

    def ensure_map(self) -> LandmarkMap:
        """Load ``map_path``, or build it from ``mapping`` (and save it) if missing.

        Raises:
            FileNotFoundError: no map file and nothing to build it from.
            ValueError: the file holds another descriptor size / feature type.
        """
        if self.landmark_map is not None:
            return self.landmark_map
        if self.map_path is not None and os.path.isfile(self.map_path):
            self.set_map(LandmarkMap.load(self.map_path, self.extractor.descriptor_dim,
                                          self.extractor.feature_type))
            return self.landmark_map
        if self.mapping is None:
            raise FileNotFoundError(f'landmark map {self.map_path} does not exist and no `mapping` '
                                    'is configured: run tools/favor_build_map.py first')
        cfg = dict(self.mapping)
        dataset = cfg.pop('dataset')
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        frames = dataset.frames() if hasattr(dataset, 'frames') else iter(dataset)
        lmap = build_landmark_map(frames, self.extractor, num_frames=len(dataset),
                                  show_progress=self.conf['show_progress'], **cfg)
        if self.map_path is not None:
            lmap.save(self.map_path)
        self.set_map(lmap)
        return self.landmark_map

    # ------------------------------------------------------------------ one query
    def _pnp(self, pts2d: np.ndarray, pts3d: np.ndarray, K: np.ndarray, size, refine: bool):
        import poselib
        camera = dict(model='PINHOLE', width=int(size[0]), height=int(size[1]),
                      params=[float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])])
        ransac = dict(max_reproj_error=float(self.conf['reprojection_error']),
                      min_iterations=int(self.conf['ransac_min_iterations']),
                      max_iterations=int(self.conf['ransac_max_iterations']),
                      seed=int(self.conf['seed']))
        bundle = dict(max_iterations=int(self.conf['refine_iterations']) if refine else 0)
        pose, info = poselib.estimate_absolute_pose(np.ascontiguousarray(pts2d, np.float64),
                                                    np.ascontiguousarray(pts3d, np.float64),
                                                    camera, ransac, bundle)
        T_w2c = np.eye(4)
        T_w2c[:3] = pose.Rt
        return np.linalg.inv(T_w2c), np.asarray(info['inliers'], bool)

    @torch.no_grad()
    def relocalize(self, image: Union[np.ndarray, Tensor], K: np.ndarray,
                   T_init: Optional[np.ndarray] = None) -> Dict:
        """Estimate the camera-to-world pose of one query image.

        Args:
            image (np.ndarray | Tensor): (H, W, 3) uint8 RGB or (3, H, W) tensor.
            K (np.ndarray): (3, 3) intrinsics of the query (finite, positive
                focal lengths, last row (0, 0, 1): else ``ValueError``).
            T_init (np.ndarray, optional): (4, 4) initial camera-to-world pose;
                default: the nearest training image by retrieval.

        Returns:
            dict: a result (:mod:`vision_sparse.structures.results`):

                * ``success`` (bool): at least one iteration gave a supported
                  pose and the last two completed iterations agree.
                * ``reason`` (str): ``''`` on success, else why the first
                  iteration failed, why none ran, or how the iterations disagree.
                * ``timings`` (dict[str, float]): seconds of ``extract``,
                  ``retrieval`` (0 with a given ``T_init``), ``render``,
                  ``match`` and ``pnp``, each summed over the iterations.
                * ``stop_reason`` (str): why the iterations stopped before
                  ``num_iterations`` (``''`` when all ran; equals ``reason`` on failure).
                * ``T_c2w`` (np.ndarray | None): (4, 4) last supported pose; None
                  when not localized.
                * ``T_init`` (np.ndarray): (4, 4) initial pose; ``init_name`` (str).
                * ``iterations`` (list[dict]): per completed iteration ``T_c2w``,
                  ``num_visible``, ``num_matches``, ``num_inliers``.
                * ``iteration_poses`` (list): ``num_iterations`` entries, a (4, 4)
                  pose or None for iterations that failed or did not run.
                * ``matches`` (dict): of the last completed iteration: ``keypoints``
                  (N, 2) query pixels, ``landmarks`` (N, 3) world points,
                  ``landmark_ids`` (N,), ``inliers`` (N,) bool (N = 0 on failure).
                * ``num_keypoints`` (int).
        """
        lmap = self.ensure_map()
        c = self.conf
        K = check_intrinsics(K, 'K')
        img = image_to_tensor(image)
        size = (int(img.shape[2]), int(img.shape[1]))
        timings = {k: 0.0 for k in ('extract', 'retrieval', 'render', 'match', 'pnp')}
        with timed(timings, 'extract'):
            feats = self.extractor(dict(image=img))
        kpts, desc = feats['keypoints'], feats['descriptors']
        init_name = ''
        if T_init is None:
            if self.retrieval is None:
                raise ValueError('no initial pose given and the map has no retrieval database')
            with timed(timings, 'retrieval'):
                top = self.retrieval.query(desc[:c['retrieval_keypoints']], top_k=1)
            T_init, init_name = top['poses'][0].numpy(), top['names'][0]
        T_init = np.asarray(T_init, np.float64)
        if T_init.shape != (4, 4):
            raise ValueError(f'T_init must have shape (4, 4), got {T_init.shape}')
        out = dict(stop_reason='', T_c2w=None, T_init=T_init, init_name=init_name,
                   iterations=[], iteration_poses=[None] * c['num_iterations'],
                   matches=dict(keypoints=np.zeros((0, 2)), landmarks=np.zeros((0, 3)),
                                landmark_ids=np.zeros(0, np.int64), inliers=np.zeros(0, bool)),
                   num_keypoints=int(kpts.shape[0]), timings=timings)
        if len(lmap) == 0:
            out['stop_reason'] = 'the landmark map is empty'
        elif kpts.shape[0] < 4:
            out['stop_reason'] = f'only {kpts.shape[0]} keypoints in the query image'
        else:
            self._iterate(out, lmap, kpts, desc, K, size)
        success = bool(out['iterations'])
        reason = out['stop_reason']
        disagreement = self._disagreement(out['iterations'])
        if disagreement:
            success, reason = False, disagreement
            out['stop_reason'] = out['stop_reason'] or disagreement
        if success:
            out['T_c2w'] = out['iterations'][-1]['T_c2w']
        return finalize_result(dict(out, reason=reason), success=success)

    def _focal_problem(self, pts2d: np.ndarray, pts3d: np.ndarray, K: np.ndarray) -> str:
        """Why the inliers contradict ``K`` (``''`` when they agree or cannot tell)."""
        tol = self.conf['max_focal_deviation']
        if tol is None:
            return ''
        f = implied_focal_lengths(pts2d, pts3d, self.conf['min_spread'])
        if f is None:
            return ''
        dev = max(abs(f[0] / K[0, 0] - 1), abs(f[1] / K[1, 1] - 1))
        if dev <= tol:
            return ''
        return (f'the {len(pts2d)} PnP inliers imply focal lengths ({f[0]:.1f}, {f[1]:.1f}) px '
                f'but K has ({K[0, 0]:.1f}, {K[1, 1]:.1f}) (max_focal_deviation={tol}): '
                'wrong intrinsics, or a pose from wrong matches')

    def _disagreement(self, iterations: List[Dict]) -> str:
        """Why the last two completed iterations disagree (``''`` if they agree or < 2 ran)."""
        lim = self.conf['max_pose_change']
        if lim is None or len(iterations) < 2:
            return ''
        dt, dr = absolute_pose_error(iterations[-1]['T_c2w'], iterations[-2]['T_c2w'])
        if dt <= lim[0] and dr <= lim[1]:
            return ''
        n = len(iterations)
        return (f'iterations {n - 1} and {n} disagree by {dt:.3f} m / {dr:.2f} deg '
                f'(max_pose_change={tuple(lim)}): the pose did not converge')

    def _iterate(self, out: Dict, lmap: LandmarkMap, kpts: Tensor, desc: Tensor, K: np.ndarray,
                 size) -> None:
        """Render-match-PnP rounds from ``out['T_init']``, filling ``out`` in place
        (``iterations``, ``iteration_poses``, ``matches``, ``stop_reason``, ``timings``)."""
        c, timings = self.conf, out['timings']
        T = out['T_init']
        for it in range(c['num_iterations']):
            with timed(timings, 'render'):
                view = lmap.render_view(T, K, size, border=c['border'], min_depth=c['min_depth'])
            n_vis = int(view['landmark_ids'].numel())
            if n_vis == 0:
                out['stop_reason'] = f'iteration {it + 1}: no landmark projects into the image'
                return
            with timed(timings, 'match'):
                m = mutual_nn_match(view['descriptors'], desc, c['match_threshold'])
            if m.shape[0] < 4:
                out['stop_reason'] = (f'iteration {it + 1}: {m.shape[0]} matches (need >= 4) '
                                      f'among {n_vis} visible landmarks')
                return
            li, ki = m[:, 0].long(), m[:, 1].long()
            ids = view['landmark_ids'][li]
            pts3d = lmap.centers[ids].numpy()
            pts2d = kpts[ki].double().numpy()
            with timed(timings, 'pnp'):
                T_new, inl = self._pnp(pts2d, pts3d, K, size,
                                       refine=it == c['num_iterations'] - 1)
            n_inl = int(inl.sum())
            if n_inl < c['min_inliers'] or not np.isfinite(T_new).all():
                out['stop_reason'] = (f'iteration {it + 1}: {n_inl} PnP inliers (need >= '
                                      f'{c["min_inliers"]}) of {m.shape[0]} matches')
                return
            if n_inl < c['min_inlier_ratio'] * m.shape[0]:
                out['stop_reason'] = (f'iteration {it + 1}: {n_inl} PnP inliers of '
                                      f'{m.shape[0]} matches, below min_inlier_ratio='
                                      f'{c["min_inlier_ratio"]}')
                return
            problem = self._focal_problem(pts2d[inl], pts3d[inl], K)
            if problem:
                out['stop_reason'] = f'iteration {it + 1}: {problem}'
                return
            T = T_new
            out['iterations'].append(dict(T_c2w=T, num_visible=n_vis, num_matches=int(m.shape[0]),
                                          num_inliers=n_inl))
            out['iteration_poses'][it] = T
            out['matches'] = dict(keypoints=pts2d, landmarks=pts3d, landmark_ids=ids.numpy(),
                                  inliers=inl)

    # ------------------------------------------------------------------ mmengine API
    def forward(self, inputs: Union[Tensor, Sequence[Tensor]], data_samples: Optional[List] = None,
                mode: str = 'predict') -> List[Dict]:
        """Relocalize a batch (mmengine ``BaseModel`` interface).

        Args:
            inputs (Tensor | list[Tensor]): (B, 3, H, W) or B tensors (3, H, W), uint8 RGB.
            data_samples (list[dict] | dict[str, list]): per image ``K`` (3, 3) and
                optionally the ground truth ``T_c2w`` and ``name`` (a dict of lists, as
                ``pseudo_collate`` makes it, is accepted too).
            mode (str): ``'predict'`` or ``'tensor'`` (the same); FaVoR has no
                ``'loss'`` (maps are built by ``tools/favor_build_map.py``).

        Returns:
            list[dict]: :meth:`relocalize` outputs plus ``gt_T_c2w`` and ``name``.
        """
        if mode == 'loss':
            raise ValueError("FaVoRRelocalizer has no 'loss' mode: build the landmark map with "
                             'tools/favor_build_map.py (or the `mapping` option)')
        if mode not in ('predict', 'tensor'):
            raise ValueError(f"mode must be 'predict' or 'tensor', got {mode!r}")
        images = list(inputs) if not isinstance(inputs, Tensor) or inputs.dim() == 4 else [inputs]
        if isinstance(data_samples, dict):  # mmengine's pseudo_collate gives a dict of lists
            keys = list(data_samples)
            data_samples = [{k: data_samples[k][i] for k in keys} for i in range(len(images))]
        if data_samples is None or len(data_samples) != len(images):
            raise ValueError('data_samples must give K (3, 3) for every input image')
        results = []
        for img, ds in zip(images, data_samples):
            if ds.get('K') is None:
                raise ValueError(f"data sample {ds.get('name', '')!r} has no intrinsics K")
            res = self.relocalize(img, np.asarray(ds['K']))
            gt = ds.get('T_c2w')
            res['gt_T_c2w'] = None if gt is None else np.asarray(gt, np.float64)
            res['name'] = ds.get('name', '')
            results.append(res)
        return results
