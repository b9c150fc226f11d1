"""MatchInferencer: two images in, matches (and the relative pose) out."""
import os
import os.path as osp
import time
from typing import Any, Dict, Optional, Sequence

import numpy as np

from vision_sparse.structures.results import timed
from .base import BaseInferencer, ImageLike, as_matrix, load_image

__all__ = ['MatchInferencer']

#: RANSAC settings of the relative pose when the config has no RelativePoseMetric
DEFAULT_POSE = dict(thresh_px=0.5, conf=0.99999, method='magsac')


class MatchInferencer(BaseInferencer):
    """Match two images with a point matcher or A2PM, from a config.

    Works with the ``configs/matcher/*`` (``MatcherEvalModel``: a bare point
    matcher) and ``configs/a2pm/*`` (``A2PMEvalModel``: the point matcher,
    MESA, DMESA) configs, and with a config whose model is a matcher itself
    (``SIFTMatcher``, ``A2PMMatcher``, ...). The images are matched as given
    (the config's dataset resizing does not apply); matches and pose refer to
    the input pixels.

    Args:
        config (str | PathLike | dict | Config): the config (file or dict).
        checkpoint (str, optional): weights (see :class:`BaseInferencer`).
        device (str, optional): see :class:`BaseInferencer`.
        cfg_options (dict, optional): config overrides (dotted keys).
        method (str, optional): which of the model's methods answers:
            ``'matcher'`` (the bare point matcher), ``'mesa'`` or ``'dmesa'``
            (A2PM); default the last one the model lists (``'dmesa'`` for
            the A2PM configs, ``'matcher'`` for bare matchers).

    Call ``inferencer(img0, img1, K0=None, K1=None, method=None, name0=None, name1=None)``:

    Args:
        img0, img1 (str | PathLike | np.ndarray): image files or ``(H, W, 3)``
            RGB / ``(H, W)`` gray uint8 arrays (sizes may differ).
        K0, K1 (array-like, optional): ``(3, 3)`` intrinsics of the images as
            given (pixels); both or neither. With them the relative pose is
            estimated (essential matrix with the RANSAC settings of the config's
            ``RelativePoseMetric``, else MAGSAC 0.5 px, 0.99999).
        method (str, optional): this call only, another of the model's
            methods (:attr:`methods`) than :attr:`method`; e.g. the bare
            ``'matcher'`` and ``'dmesa'`` of one A2PM config share one point
            matcher (loaded once).
        name0, name1 (str, optional): the images' file names, passed to A2PM's
            area source (a ``MaskFileAreaSource`` picks its mask files by
            them); default the base names of ``img0`` / ``img1`` when they are
            paths, else none.

    Returns:
        dict: the result contract (``success``, ``reason``, ``timings``:
        seconds of ``load``, ``match``, ``relative_pose``, ``total`` plus the
        method's own stages) and

        * ``kpts0``, ``kpts1`` (np.ndarray): ``(N, 2)`` float32 ``(x, y)`` pixels
          of each image (pixel centres at integers); ``scores`` ``(N,)`` float32
          in [0, 1]; ``num_matches`` (int).
        * ``R`` ``(3, 3)`` and ``t`` ``(3,)`` float64, unit ``t``, camera 0 ->
          camera 1 (``X1 = R X0 + t``); ``inliers`` ``(N,)`` bool (RANSAC
          inliers); ``num_inliers`` (int). Without K or when the pose cannot be
          estimated: ``R`` ``(0, 3)``, ``t`` ``(0,)``, ``inliers`` ``(0,)``,
          ``num_inliers`` 0.
        * ``method`` (str), ``image_size0``, ``image_size1`` ``(2,)`` int64
          ``(w, h)``; plus what the method returns besides (point matchers:
          ``num_keypoints0/1``).
        * A2PM methods (``'mesa'``, ``'dmesa'``, an ``A2PMMatcher`` model) add
          the areas, as :meth:`A2PMMatcher.forward
          <vision_sparse.models.area_matchers.A2PMMatcher.forward>` returns them:
          ``area_set0``, ``area_set1`` (:class:`~vision_sparse.structures.areas.AreaSet`:
          every area of each image, boxes and masks, before matching);
          ``areas0``, ``areas1`` ``(M, 4)`` xyxy px (matched area pair ``i`` is
          row ``i`` of each), ``area_scores`` ``(M,)``, ``area_kept`` ``(M,)``
          bool (the pair's matches are among the output), ``area_verified``,
          ``area_pairs_total``; ``from_area`` ``(N,)`` int (the pair each match
          came from, -1 = the full-image matcher); ``fusion_info`` (dict) and
          ``fallback`` (str: why no pair was usable, ``''`` otherwise).

        ``success`` is False (with a ``reason``) when the method found no
        match or says it failed (A2PM without a usable area pair returns the
        full-image matches with a reason), or when K was given and no pose
        could be estimated; the matches (and a pose, if one was found) are
        kept.

    Raises:
        ValueError: unreadable image files, images of another type, dtype or
            shape, malformed intrinsics or only one of K0, K1.
    """

    def __init__(self, config, checkpoint: Optional[str] = None, device=None,
                 cfg_options: Optional[Dict] = None, method: Optional[str] = None) -> None:
        super().__init__(config, checkpoint, device, cfg_options)
        self.methods = self._find_methods(self.model)
        if method is None:
            method = list(self.methods)[-1]
        if method not in self.methods:
            raise ValueError(f'method must be one of {list(self.methods)} for this config '
                             f'({type(self.model).__name__}), got {method!r}')
        self.method = method
        self.pose_cfg = self._pose_settings(self.cfg.get('test_evaluator'))

    @staticmethod
    def _find_methods(model) -> Dict[str, Any]:
        """``{name: callable matcher}`` in the model's order."""
        from vision_sparse.models.area_matchers import A2PMMatcher
        from vision_sparse.models.matchers import BaseMatcher
        if isinstance(model, BaseMatcher):
            return dict(matcher=model)
        if isinstance(model, A2PMMatcher):
            return dict(a2pm=model)
        matcher = getattr(model, 'matcher', None)  # MatcherEvalModel
        if isinstance(matcher, BaseMatcher):
            return dict(matcher=matcher)
        point_matcher = getattr(model, 'point_matcher', None)  # A2PMEvalModel
        if isinstance(point_matcher, BaseMatcher) and isinstance(getattr(model, 'a2pm', None),
                                                                 dict):
            methods = [m for m in getattr(model, 'methods', ('matcher', )) if m == 'matcher'
                       or m in model.a2pm]
            return {m: point_matcher if m == 'matcher' else model.a2pm[m] for m in methods}
        raise ValueError(f'MatchInferencer needs a matcher config (MatcherEvalModel, A2PMEvalModel '
                         f'or a matcher), got model type {type(model).__name__}')

    @staticmethod
    def _pose_settings(evaluator: Any) -> Dict[str, Any]:
        pose = dict(DEFAULT_POSE)
        if isinstance(evaluator, dict) and evaluator.get('type') == 'RelativePoseMetric':
            pose.update(thresh_px=float(evaluator.get('ransac_thresh_px', pose['thresh_px'])),
                        conf=float(evaluator.get('ransac_conf', pose['conf'])),
                        method=str(evaluator.get('ransac_method', pose['method'])))
        return pose

    def __call__(self, img0: ImageLike, img1: ImageLike, K0: Optional[Sequence] = None,
                 K1: Optional[Sequence] = None, method: Optional[str] = None,
                 name0: Optional[str] = None, name1: Optional[str] = None) -> Dict[str, Any]:
        """Match ``img0`` and ``img1`` (and estimate their relative pose from ``K0``,
        ``K1``); arguments and result as in the class docstring."""
        from vision_sparse.evaluation.functional.pose import estimate_relative_pose
        method = self.method if method is None else method
        if method not in self.methods:
            raise ValueError(f'method must be one of {list(self.methods)} for this config '
                             f'({type(self.model).__name__}), got {method!r}')
        names = []
        for name, img, arg in ((name0, img0, 'name0'), (name1, img1, 'name1')):
            if name is not None and not isinstance(name, str):
                raise ValueError(f'{arg} must be a file name (str) or None, got '
                                 f'{type(name).__name__}')
            if name is None and isinstance(img, (str, os.PathLike)):
                name = osp.basename(os.fspath(img))
            names.append(name)
        t_start = time.perf_counter()
        timings: Dict[str, float] = {}
        with timed(timings, 'load'):
            image0, image1 = load_image(img0, 'img0'), load_image(img1, 'img1')
            K0, K1 = as_matrix(K0, (3, 3), 'K0'), as_matrix(K1, (3, 3), 'K1')
            if (K0 is None) != (K1 is None):
                raise ValueError('give both K0 and K1 (3, 3), or neither')
        matcher = self.methods[method]
        with timed(timings, 'match'):
            if method == 'matcher':
                out = dict(matcher.match(image0, image1))
            else:  # A2PM uses the intrinsics in its geometric filter
                out = dict(matcher(image0, image1, K0=K0, K1=K1, name0=names[0],
                                   name1=names[1]))
        for key in ('R', 't', 'num_inliers', 'inliers'):  # one pose path for every method
            out.pop(key, None)
        n = len(out['kpts0'])
        out.update(kpts0=np.asarray(out['kpts0'], np.float32).reshape(-1, 2),
                   kpts1=np.asarray(out['kpts1'], np.float32).reshape(-1, 2),
                   scores=np.asarray(out['scores'], np.float32).reshape(-1),
                   num_matches=n, method=method,
                   image_size0=np.array(image0.shape[1::-1], np.int64),
                   image_size1=np.array(image1.shape[1::-1], np.int64),
                   R=np.zeros((0, 3)), t=np.zeros(0), inliers=np.zeros(0, bool), num_inliers=0)
        # the method's own verdict (a failed method says why, with or without `success`)
        reasons = [str(out.get('reason') or '')]
        success = bool(out.get('success', not reasons[0])) and n > 0
        if n == 0:
            reasons[0] = reasons[0] or 'no match found'
        elif K0 is not None:
            with timed(timings, 'relative_pose'):
                pose = estimate_relative_pose(out['kpts0'], out['kpts1'], K0, K1,
                                              thresh_px=self.pose_cfg['thresh_px'],
                                              conf=self.pose_cfg['conf'],
                                              method=self.pose_cfg['method'])
            if pose is None:
                success = False
                reasons.append(f'no relative pose from {n} matches (fewer than 5, degenerate '
                               'points or no essential matrix)')
            else:
                out.update(R=np.asarray(pose['R'], np.float64),
                           t=np.asarray(pose['t'], np.float64).reshape(3),
                           inliers=np.asarray(pose['inliers'], bool),
                           num_inliers=int(pose['num_inliers']))
        out['success'] = success
        out['reason'] = '' if success else '; '.join(r for r in reasons if r)
        timings['total'] = time.perf_counter() - t_start
        return self.finish(out, timings)

    def draw(self, result: Dict[str, Any], img0: ImageLike, img1: ImageLike,
             max_lines: int = 500) -> np.ndarray:
        """The two images side by side with the matches (RANSAC inliers green,
        outliers red when a pose was estimated; else coloured by score).

        Returns:
            np.ndarray: ``(H, W, 3)`` uint8 RGB picture.
        """
        from vision_sparse.visualization import draw_matches
        image0, image1 = load_image(img0, 'img0'), load_image(img1, 'img1')
        has_pose = len(result['inliers']) == len(result['kpts0']) and len(result['R']) == 3
        text = [f"{result.get('method', self.method)}: {result['num_matches']} matches"
                + (f", {result['num_inliers']} pose inliers" if has_pose else ''),
                result['reason'] or 'success']
        return draw_matches(image0, image1, result['kpts0'], result['kpts1'],
                            color=None if has_pose else result['scores'],
                            inlier_mask=result['inliers'] if has_pose else None,
                            max_lines=max_lines, text=text)
