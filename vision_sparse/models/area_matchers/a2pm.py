"""A2PM: area-to-point matching (areas -> MESA | DMESA -> point matching in
matched areas -> geometric fusion -> matches and relative pose)."""
import time
from typing import Any, Dict, List, Optional, Union

import numpy as np
from torch import nn

from vision_sparse.structures.cameras import check_intrinsics
from vision_sparse.registry import MODELS
from vision_sparse.structures.areas import AreaSet
from vision_sparse.structures.results import finalize_result, timed
from vision_sparse.utils.build import build_from_cfg_or_obj
from vision_sparse.utils.config import merge_conf
from vision_sparse.utils.image import check_image, size_problem
from vision_sparse.models.matchers.base_matcher import BaseMatcher
from vision_sparse.models.matchers.area_pairs import match_in_boxes, match_in_crops

from .base_area_matcher import BaseAreaMatcher
from .area_verification import VERIFY_DEFAULTS, verify_area_pairs
from .fusion import CONSENSUS_DEFAULTS, consensus_fusion, fuse_matches, nms_matches
from .utils import run_point_matcher

__all__ = ['A2PMMatcher', 'estimate_pose']

AREA_MATCHERS = dict(mesa='MESA', dmesa='DMESA')


def estimate_pose(kpts0: np.ndarray, kpts1: np.ndarray, K0: np.ndarray,
                  K1: np.ndarray, thresh_px: float = 0.5,
                  conf: float = 0.99999) -> Optional[Dict]:
    """Relative pose from matches via the project's evaluation function
    (``vision_sparse.evaluation.functional.pose.estimate_relative_pose``).

    Returns:
        dict | None: ``R (3, 3)``, ``t (3,)`` unit, ``inliers (N,)`` bool,
        ``num_inliers``; None when the geometry is degenerate.
    """
    from vision_sparse.evaluation.functional.pose import estimate_relative_pose
    if len(kpts0) < 5:
        return None
    return estimate_relative_pose(kpts0, kpts1, K0, K1, thresh_px=thresh_px,
                                  conf=conf)


@MODELS.register_module()
class A2PMMatcher(nn.Module):
    """Area-to-point matcher: any point matcher run inside matched areas.

    Args:
        point_matcher (dict | nn.Module): a ``BaseMatcher`` (config or built),
            e.g. ``dict(type='SIFTMatcher')``.
        area_source (dict | object): an area source (``source(image, name) ->
            AreaSet``); default :class:`SegmentationAreaSource` (SAM-free).
        area_matcher (str | dict | nn.Module): ``'mesa'``, ``'dmesa'``, a
            config or a built :class:`BaseAreaMatcher`.
        coarse_matcher (dict | nn.Module, optional): matcher for area matching;
            default the point matcher.
        **conf: overrides of :attr:`default_conf`:

            - ``fusion`` (str): ``'consensus'`` (default,
              :func:`~vision_sparse.models.area_matchers.fusion.consensus_fusion`:
              votes of independent sources, a wrong area pair cannot replace
              a well-supported full-image geometry) or ``'legacy'`` (the
              paper's match-counting filter,
              :func:`~vision_sparse.models.area_matchers.fusion.fuse_matches`).
            - ``consensus`` (dict): overrides of
              :data:`~vision_sparse.models.area_matchers.fusion.CONSENSUS_DEFAULTS`.
            - ``verify_areas`` (bool, default False: it did not help the pose
              on the ScanNet caches, see ``docs/a2pm.md``): check every area
              pair against the full-image matches and the area graph before
              the point matcher runs in it
              (:func:`~vision_sparse.models.area_matchers.area_verification.verify_area_pairs`);
              dropped pairs are not matched.
            - ``verification`` (dict): overrides of
              :data:`~vision_sparse.models.area_matchers.area_verification.VERIFY_DEFAULTS`.
            - ``crop_size`` (int): side of the square crops matched by the point
              matcher, px (areas are grown to squares, content not stretched).
            - ``crop_expand`` (float): area boxes are enlarged by this first.
            - ``area_points`` (``'crops'`` | ``'features'``), ``feature_size``
              (int | None), ``batch_size`` (int | None: 8 on CUDA, 1 on CPU):
              how points are matched inside area pairs (see :meth:`match_areas`).
            - ``alpha``, ``consistency`` (``'mean'`` | ``'median'``),
              ``thresh_px``, ``ransac_conf``, ``min_area_inliers``,
              ``collect_factor``: legacy fusion
              (:func:`~vision_sparse.models.area_matchers.fusion.fuse_matches`);
              ``alpha``, ``consistency``, ``thresh_px`` are legacy only;
              ``ransac_conf``, ``nms_radius``, ``max_matches`` are used by both
              fusions.
            - ``pose_thresh_px``, ``pose_conf``: final pose RANSAC.
            - ``progress`` (bool): tqdm bar over area pairs.
            - ``min_size`` (int): an input image whose shorter side is below
              this many pixels gives the defined empty result (``reason``
              names the image and its size) before any area is computed:
              area crops are upsampled to ``crop_size`` and would invent
              matches on a tiny patch.

    Call: ``out = matcher(img0, img1, K0=None, K1=None)`` or
    ``out = matcher(data_dict)`` (see :meth:`forward`).
    """

    default_conf = dict(crop_size=640, crop_expand=1.2, alpha=3.0, consistency='mean',
                        thresh_px=0.5, ransac_conf=0.99999, min_area_inliers=15,
                        collect_factor=2.0, nms_radius=3.0, max_matches=5000,
                        pose_thresh_px=0.5, pose_conf=0.99999, progress=False, min_size=32,
                        fusion='consensus', consensus=None, verify_areas=False,
                        verification=None, area_points='features', feature_size=None,
                        batch_size=None)

    def __init__(self,
                 point_matcher,
                 area_source=None,
                 area_matcher: Union[str, Dict, nn.Module] = 'dmesa',
                 coarse_matcher=None,
                 **conf):
        super().__init__()
        self.conf = merge_conf(self.default_conf, conf, type(self).__name__)
        if int(self.conf['crop_size']) < 32:
            raise ValueError(f"crop_size must be >= 32, got {self.conf['crop_size']}")
        if self.conf['fusion'] not in ('consensus', 'legacy'):
            raise ValueError(f"fusion must be 'consensus' or 'legacy', got {self.conf['fusion']!r}")
        # nested options: merged with their own defaults (unknown names refused)
        self.conf['consensus'] = merge_conf(CONSENSUS_DEFAULTS, self.conf['consensus'],
                                            'A2PMMatcher consensus')
        self.conf['verification'] = merge_conf(VERIFY_DEFAULTS, self.conf['verification'],
                                               'A2PMMatcher verification')
        if point_matcher is None:
            raise ValueError('A2PMMatcher needs a point_matcher (config or module)')
        self.point_matcher = build_from_cfg_or_obj(point_matcher, MODELS, name='point_matcher')
        self.area_source = build_from_cfg_or_obj(
            area_source or dict(type='SegmentationAreaSource'), MODELS, name='area_source')
        if isinstance(area_matcher, str):
            if area_matcher not in AREA_MATCHERS:
                raise ValueError("area_matcher must be 'mesa', 'dmesa', a config"
                                 f' or a module, got {area_matcher!r}')
            area_matcher = dict(type=AREA_MATCHERS[area_matcher])
        self.area_matcher = build_from_cfg_or_obj(area_matcher, MODELS, name='area_matcher')
        if not isinstance(self.area_matcher, BaseAreaMatcher):
            raise ValueError('area_matcher must build a BaseAreaMatcher '
                             f'(MESA, DMESA), got {type(self.area_matcher).__name__}')
        coarse = (build_from_cfg_or_obj(coarse_matcher, MODELS, name='coarse_matcher')
                  if coarse_matcher is not None else self.point_matcher)
        if self.area_matcher.coarse_matcher is None:
            self.area_matcher.set_coarse_matcher(coarse)

    # ------------------------------------------------------------------ API
    def forward(self, image0: Any, image1: Any = None, K0=None, K1=None,
                **extra) -> Dict:
        """Match two images through their matched areas.

        Args:
            image0: ``(H0, W0, 3)`` uint8 RGB (or grey) - or a dict holding all
                inputs below (LightGlue-style call).
            image1: ``(H1, W1, 3)`` uint8 RGB (or grey).
            K0, K1: ``(3, 3)`` intrinsics of the two images (px), optional.
            **extra: optional ``name0``/``name1`` (image file names, used by
                :class:`MaskFileAreaSource`), ``areas0``/``areas1``
                (:class:`AreaSet`, precomputed areas), ``full_matches``
                (``dict(kpts0, kpts1, scores)`` of the point matcher on the full
                images, to avoid running it again) and ``area_matches`` (the
                output of the area matcher for these areas: ``dict(boxes0 (M, 4),
                boxes1 (M, 4), scores (M,))``, to compare several point matchers
                on the same area pairs).

        Returns:
            dict:
                - ``kpts0`` ``(N, 2)`` / ``kpts1`` ``(N, 2)`` float32: matches
                  ``(x, y)`` px in each full image; ``scores`` ``(N,)`` in
                  ``[0, 1]``; ``from_area`` ``(N,)`` int (index of the area pair
                  a match came from, -1 = full-image match).
                - ``areas0`` ``(M, 4)`` / ``areas1`` ``(M, 4)``: matched area
                  boxes xyxy px; ``area_scores`` ``(M,)``; ``area_kept``
                  ``(M,)`` bool (passed verification and agrees with the
                  final geometry: its matches are among the output, unless
                  the full image won, ``fusion_info['full_won']``, when the
                  output is the full-image matches as the matcher gave them).
                - ``area_pairs_total`` (int, M), ``area_pairs_kept`` (int:
                  pairs that passed verification and were point-matched),
                  ``area_verified`` ``(M,)`` bool, ``area_verification``
                  (dict: the evidence of
                  :func:`~vision_sparse.models.area_matchers.area_verification.verify_area_pairs`
                  per pair, including ``reason``; ``{}`` with
                  ``verify_areas=False``).
                - ``fusion_info`` (dict): consensus fusion only - ``winner``
                  (area pair index whose geometry won, -1 full image, -2
                  none), ``full_agrees``, ``full_agree_share``,
                  ``num_independent``, ``coverage``, ``hypothesis_scores``
                  ``(M + 1,)`` (last = full image; NaN = no hypothesis or
                  pair dropped), ``F`` ``(3, 3)`` (final geometry, px) or None,
                  ``full_inlier_share`` (share of the full-image matches its own
                  geometry explains), ``full_won`` (bool, see ``area_kept``) and
                  ``selection`` (``'coverage'`` or
                  ``'heldout'``: the rule that chose the winner);
                  ``{}`` for legacy fusion.
                - ``area_set0``, ``area_set1`` (:class:`AreaSet`): all areas of
                  each image (before matching).
                - ``num_area_matcher_calls`` (int), ``timings`` (dict of
                  seconds: ``areas``, ``area_matching``, ``verification``, ``point_matching``,
                  ``fusion``, ``pose``, ``total``).
                - with ``K0`` and ``K1``: ``R`` ``(3, 3)``, ``t`` ``(3,)`` (unit,
                  ``X1 = R X0 + t``), ``num_inliers`` (None/0 if degenerate).
                - ``fallback`` (str): ``''``, or why no area pair was usable
                  (then the full-image matches are returned, ``from_area = -1``).
                - ``success`` (bool): ``N > 0``; ``reason`` (str): ``''`` on
                  success, else why nothing matched.

        Raises:
            ValueError: for unreadable / empty images or malformed intrinsics.
        """
        data = dict(image0) if isinstance(image0, dict) else dict(
            image0=image0, image1=image1, K0=K0, K1=K1, **extra)
        t_start = time.perf_counter()
        img0 = check_image(data.get('image0'), 'image0', rgb=True)
        img1 = check_image(data.get('image1'), 'image1', rgb=True)
        K0 = check_intrinsics(data.get('K0'), 'K0', allow_none=True)
        K1 = check_intrinsics(data.get('K1'), 'K1', allow_none=True)
        if (K0 is None) != (K1 is None):
            raise ValueError('give both K0 and K1, or neither')
        timings: Dict[str, float] = {}
        c = self.conf
        for i, img in enumerate((img0, img1)):
            small = size_problem(img.shape, None, int(c['min_size']), f'image{i}')
            if small:
                return self._empty(small, img0, img1, K0 is not None, timings, t_start)

        with timed(timings, 'point_matching'):
            full = data.get('full_matches')
            if full is None:
                full = run_point_matcher(self.point_matcher, img0, img1)
            else:
                full = tuple(np.asarray(full[k], np.float64) for k in
                             ('kpts0', 'kpts1', 'scores'))
        with timed(timings, 'areas'):
            areas0, areas1 = data.get('areas0'), data.get('areas1')
            if areas0 is None:
                areas0 = self.area_source(img0, data.get('name0'))
            if areas1 is None:
                areas1 = self.area_source(img1, data.get('name1'))
        with timed(timings, 'area_matching'):
            am = data.get('area_matches')
            if am is None:
                am = self.area_matcher(dict(image0=img0, image1=img1, areas0=areas0,
                                            areas1=areas1))
            else:
                am = self._check_area_matches(am)
        m_all = len(am['boxes0'])
        with timed(timings, 'verification'):
            if c['verify_areas'] and m_all:
                ver = verify_area_pairs(am['boxes0'], am['boxes1'], full[0], full[1],
                                        **c['verification'])
                verified = ver['kept']
            else:
                ver, verified = {}, np.ones(m_all, bool)
        sel = np.nonzero(verified)[0]
        with timed(timings, 'point_matching'):
            area_matches = self.match_areas(img0, img1, am['boxes0'][sel], am['boxes1'][sel])
        with timed(timings, 'fusion'):
            fused, info = self._fuse(area_matches, full, K0, K1, img0.shape[:2],
                                     img1.shape[:2], sel, m_all)
        area_kept = np.zeros(m_all, bool)
        area_kept[sel] = fused['area_kept']
        out = dict(areas0=am['boxes0'], areas1=am['boxes1'],
                   area_scores=am['scores'], area_kept=area_kept,
                   area_pairs_total=int(m_all), area_pairs_kept=int(len(sel)),
                   area_verified=verified, area_verification=ver, fusion_info=info,
                   num_area_matcher_calls=int(am['num_matcher_calls']),
                   area_set0=areas0, area_set1=areas1, fallback='', reason='')
        if not fused['area_kept'].any():  # no area pair usable: say why
            reason = (am.get('reason') or fused.get('fallback')
                      or 'no area pair passed the geometric filter')
            if m_all and not len(sel):
                reason = 'no area pair passed the verification'
            out['fallback'] = f'{reason}; returning the full-image matches'
        if fused['area_kept'].any() or fused.get('full_won'):
            # area matches fused, or the full image won the consensus (its matches as given)
            kp0, kp1, sc = fused['kpts0'], fused['kpts1'], fused['scores']
            src = np.where(fused['from_area'] >= 0,
                           sel[np.clip(fused['from_area'], 0, None)] if len(sel) else -1, -1)
        else:
            # in the matcher's order (the final RANSAC depends on it)
            idx = np.sort(nms_matches(full[0], full[1], full[2], c['nms_radius'],
                                      c['max_matches']))
            kp0, kp1, sc = full[0][idx], full[1][idx], full[2][idx]
            src = np.full(len(idx), -1, np.int64)
            if len(idx) == 0:
                out['reason'] = f'{reason}; and no full-image matches either'
        out.update(kpts0=kp0.astype(np.float32), kpts1=kp1.astype(np.float32),
                   scores=sc.astype(np.float32), from_area=src)

        with timed(timings, 'pose'):
            if K0 is not None:
                out.update(self._pose(out['kpts0'], out['kpts1'], K0, K1))
        timings['total'] = time.perf_counter() - t_start
        out['timings'] = timings
        return finalize_result(out, success=len(kp0) > 0)

    def _fuse(self, area_matches: List, full, K0, K1, size0, size1, sel: np.ndarray,
              m_all: int):
        """``(fusion result, fusion_info)`` with the configured fusion."""
        c = self.conf
        if c['fusion'] == 'legacy':
            fused = fuse_matches(area_matches, full, K0, K1, c['alpha'], c['thresh_px'],
                                 c['ransac_conf'], c['min_area_inliers'], c['collect_factor'],
                                 c['nms_radius'], c['max_matches'], c['consistency'])
            return fused, {}
        fused = consensus_fusion(area_matches, full, K0, K1, size0, size1,
                                 c['ransac_conf'], c['nms_radius'], c['max_matches'],
                                 **c['consensus'])
        scores = np.full(m_all + 1, np.nan)
        scores[sel] = fused['hypothesis_scores'][:-1]
        scores[-1] = fused['hypothesis_scores'][-1]
        winner = fused['winner']
        info = dict(winner=int(sel[winner]) if winner >= 0 else int(winner),
                    full_agrees=fused['full_agrees'], full_agree_share=fused['full_agree_share'],
                    num_independent=fused['num_independent'], coverage=fused['coverage'],
                    hypothesis_scores=scores, F=fused['F'],
                    full_inlier_share=fused.get('full_inlier_share'),
                    full_coverage=fused.get('full_coverage'),
                    selection=fused.get('selection', ''),
                    full_won=bool(fused.get('full_won', False)))
        return fused, info

    @staticmethod
    def _empty(reason: str, img0: np.ndarray, img1: np.ndarray, with_pose: bool,
               timings: Dict[str, float], t_start: float) -> Dict:
        """The defined empty result (every documented key, ``N = M = 0``)."""
        out = dict(kpts0=np.zeros((0, 2), np.float32), kpts1=np.zeros((0, 2), np.float32),
                   scores=np.zeros((0,), np.float32), from_area=np.zeros((0,), np.int64),
                   areas0=np.zeros((0, 4)), areas1=np.zeros((0, 4)),
                   area_scores=np.zeros((0,)), area_kept=np.zeros((0,), bool),
                   area_pairs_total=0, area_pairs_kept=0, area_verified=np.zeros((0,), bool),
                   area_verification={}, fusion_info={},
                   area_set0=AreaSet.empty(img0.shape[:2]), area_set1=AreaSet.empty(img1.shape[:2]),
                   num_area_matcher_calls=0, fallback='', reason=reason)
        if with_pose:
            out.update(R=None, t=None, num_inliers=0)
        timings['total'] = time.perf_counter() - t_start
        out['timings'] = timings
        return finalize_result(out, success=False)

    def _pose(self, kpts0: np.ndarray, kpts1: np.ndarray, K0: np.ndarray,
              K1: np.ndarray) -> Dict:
        """``R``, ``t``, ``num_inliers`` of the final pose RANSAC (None, None, 0 if degenerate)."""
        pose = estimate_pose(kpts0.astype(np.float64), kpts1.astype(np.float64), K0, K1,
                             self.conf['pose_thresh_px'], self.conf['pose_conf'])
        if pose is None:
            return dict(R=None, t=None, num_inliers=0)
        return dict(R=np.asarray(pose['R']), t=np.asarray(pose['t']),
                    num_inliers=int(pose['num_inliers']))

    @staticmethod
    def _check_area_matches(am) -> Dict:
        if not isinstance(am, dict) or not {'boxes0', 'boxes1', 'scores'} <= set(am):
            raise ValueError('area_matches must be a dict with boxes0 (M, 4), boxes1 (M, 4) '
                             'and scores (M,) (the output of MESA / DMESA)')
        b0 = np.asarray(am['boxes0'], np.float64).reshape(-1, 4)
        b1 = np.asarray(am['boxes1'], np.float64).reshape(-1, 4)
        sc = np.asarray(am['scores'], np.float64).reshape(-1)
        if not len(b0) == len(b1) == len(sc):
            raise ValueError('area_matches: boxes0, boxes1 and scores have different '
                             f'lengths {len(b0)}, {len(b1)}, {len(sc)}')
        return dict(am, boxes0=b0, boxes1=b1, scores=sc,
                    num_matcher_calls=int(am.get('num_matcher_calls', 0)))

    def match(self, image0, image1, K0=None, K1=None, **extra) -> Dict:
        """Same as calling the module (``forward``)."""
        return self.forward(image0, image1, K0=K0, K1=K1, **extra)

    def match_areas(self, img0: np.ndarray, img1: np.ndarray,
                    boxes0: np.ndarray, boxes1: np.ndarray) -> List:
        """Point matches inside every area pair, in full-image px.

        ``area_points='crops'``: each box is enlarged by ``crop_expand``, grown
        to a square (content aspect kept, zero padding outside the image) and
        resized to ``crop_size``; matches are mapped back with the crop's scale
        and offset. Matchers with per-image features (XFeat, LightGlue, SIFT)
        extract each distinct crop once, the crops of one image stacked
        ``batch_size`` at a time through the network (same matches as one
        matcher call per crop pair, to float tolerance); joint matchers (LoFTR)
        are called once per crop pair.

        ``area_points='features'``: the features of each whole image are
        extracted once (longer side ``feature_size``, None = the matcher's
        ``resize_max``) and, per area pair, the keypoints inside the two boxes
        enlarged by ``crop_expand`` are matched with each other (per-image
        feature matchers only; others fall back to ``'crops'``). At the
        matcher's own size these are the features of the full-image call, taken
        from the matcher's feature cache (no extra network call); on the 15
        ScanNet sample pairs (XFeat) this stage takes ~0.5 s instead of ~5-20 s
        for the crops, with comparable AUC (see the benchmark).

        Returns:
            list: per pair ``(kpts0 (N, 2), kpts1 (N, 2), scores (N,))``
            float64, px ``(x, y)`` in ``img0`` / ``img1``.
        """
        c = self.conf
        if c['area_points'] not in ('crops', 'features'):
            raise ValueError("area_points must be 'crops' or 'features', got "
                             f"{c['area_points']!r}")
        pairs = list(zip(np.asarray(boxes0, np.float64).reshape(-1, 4),
                         np.asarray(boxes1, np.float64).reshape(-1, 4)))
        pm = self.point_matcher
        if c['area_points'] == 'features' and isinstance(pm, BaseMatcher) and pm.supports_extract:
            return match_in_boxes(pm, img0, img1, pairs, c['crop_expand'], c['feature_size'])
        return match_in_crops(pm, img0, img1, pairs, int(c['crop_size']), c['crop_expand'],
                              c['batch_size'], c['progress'])

    def compute_areas(self, image, name: Optional[str] = None) -> AreaSet:
        """Areas of one image with this matcher's area source."""
        return self.area_source(check_image(image, rgb=True), name)
