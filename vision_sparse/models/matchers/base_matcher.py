"""One dict-in / dict-out interface for every point matcher.

A matcher takes two images (numpy, any size, RGB or gray), optional masks that
restrict where keypoints may lie, and returns correspondences in the *input*
pixel coordinates of each image.  Resizing to the matcher's working size and
mapping back happen inside, so callers (full-image evaluation, A2PM area crops)
never deal with it.

Pixel convention: ``(x, y)`` with the centre of the top-left pixel at
``(0, 0)``.  A working image of size ``(w', h')`` made from an input of size
``(w, h)`` maps back with ``x = (x' + 0.5) * w / w' - 0.5`` (same for y).
"""
import hashlib
from collections import OrderedDict
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch import nn

from vision_sparse.structures.results import finalize_result, timed
from vision_sparse.utils.config import merge_conf
from vision_sparse.utils.image import check_image, resize_long_side, size_problem
from vision_sparse.utils.threads import torch_threads

__all__ = ['BaseMatcher', 'check_image', 'check_mask', 'empty_matches', 'lightglue_pairs',
           'indexed_matches']


def check_mask(mask: Any, shape: Tuple[int, int], name: str) -> Optional[np.ndarray]:
    """Validate an optional keypoint mask.

    Args:
        mask (np.ndarray | None): ``(H, W)`` bool (or 0/1 integer) array,
            True where keypoints may lie.
        shape (tuple[int, int]): ``(H, W)`` of the image it belongs to.
        name (str): argument name used in error messages.

    Returns:
        np.ndarray | None: ``(H, W)`` bool or None.

    Raises:
        ValueError: if the mask is not a 2-D array of the image's size.
    """
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray):
        raise ValueError(f'{name} must be a numpy bool array of shape {shape}, '
                         f'got {type(mask).__name__}')
    if mask.shape != tuple(shape):
        raise ValueError(f'{name} must have the image shape (H, W) = {tuple(shape)}, '
                         f'got {mask.shape}')
    if mask.dtype != bool:
        if not np.issubdtype(mask.dtype, np.integer):
            raise ValueError(f'{name} must be bool (or 0/1 integers), got {mask.dtype}')
        mask = mask != 0
    return mask


def empty_matches(reason: str = 'no matches',
                  timings: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
    """The defined empty result: ``N = 0`` matches, a failed result.

    Args:
        reason (str): why nothing was matched (kept under ``'reason'``).
        timings (dict, optional): seconds per stage spent so far.

    Returns:
        dict: ``kpts0`` (0, 2), ``kpts1`` (0, 2), ``scores`` (0,) float32,
        ``num_keypoints0`` = ``num_keypoints1`` = 0, ``success`` False,
        ``reason``, ``timings``.
    """
    return finalize_result(dict(kpts0=np.zeros((0, 2), np.float32),
                                kpts1=np.zeros((0, 2), np.float32),
                                scores=np.zeros((0,), np.float32), num_keypoints0=0,
                                num_keypoints1=0, reason=reason or 'no matches',
                                timings=dict(timings or {})), success=False)


def lightglue_pairs(glue: nn.Module, f0: Dict[str, torch.Tensor], f1: Dict[str, torch.Tensor],
                    size0: Tuple[int, int], size1: Tuple[int, int]
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run a kornia ``LightGlue`` on two feature dicts (``keypoints (N, 2)``,
    ``descriptors (N, D)``) of working images of ``(h, w)`` sizes.

    Returns:
        tuple: indices ``i0 (M,)``, ``i1 (M,)`` into each keypoint set and the
        match probabilities ``(M,)``.
    """
    dev = f0['keypoints'].device
    views = {}
    for key, f, (h, w) in (('image0', f0, size0), ('image1', f1, size1)):
        views[key] = dict(keypoints=f['keypoints'][None], descriptors=f['descriptors'][None],
                          image_size=torch.tensor([[w, h]], device=dev))
    out = glue(views)
    pairs = out['matches'][0]
    return pairs[:, 0], pairs[:, 1], out['scores'][0]


def indexed_matches(f0: Dict[str, torch.Tensor], f1: Dict[str, torch.Tensor], i0: torch.Tensor,
                    i1: torch.Tensor, scores: torch.Tensor) -> Dict[str, Any]:
    """The ``_match_features`` result for matches given as keypoint indices."""
    return dict(kpts0=f0['keypoints'][i0].cpu().numpy(), kpts1=f1['keypoints'][i1].cpu().numpy(),
                scores=scores.float().cpu().numpy(), num_keypoints0=len(f0['keypoints']),
                num_keypoints1=len(f1['keypoints']))


def resize_mask(mask: Optional[np.ndarray], size_wh: Tuple[int, int]) -> Optional[np.ndarray]:
    """Nearest-neighbour resize of a bool mask to ``(w, h)``."""
    if mask is None or mask.shape[::-1] == tuple(size_wh):
        return mask
    return cv2.resize(mask.astype(np.uint8), tuple(size_wh),
                      interpolation=cv2.INTER_NEAREST).astype(bool)


def points_in_mask(kpts: np.ndarray, mask: Optional[np.ndarray]) -> np.ndarray:
    """``(N,)`` bool: whether each ``(x, y)`` point falls on a True mask pixel.

    Points outside the image are False; without a mask every point is True.
    """
    if mask is None:
        return np.ones(len(kpts), bool)
    h, w = mask.shape
    xi = np.floor(kpts[:, 0] + 0.5).astype(np.int64)
    yi = np.floor(kpts[:, 1] + 0.5).astype(np.int64)
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    keep = np.zeros(len(kpts), bool)
    keep[inside] = mask[yi[inside], xi[inside]]
    return keep


class BaseMatcher(nn.Module):
    """Base class of point matchers (LightGlue-style dict interface).

    Subclasses set ``default_conf`` (merged with the keyword arguments; an
    unknown keyword raises ``ValueError``), ``patch_size`` and implement
    either :meth:`_extract` + :meth:`_match_features` (per-image features,
    which also enables :meth:`extract` / :meth:`match_features`) or
    :meth:`_match` (joint matchers); both work on the resized images.

    Common options (``BaseMatcher.default_conf``):

    * ``resize_max`` (int | None): the longer image side is resized to this
      many pixels before matching (up or down, aspect kept); None matches at
      the input size.
    * ``device`` (str): ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'``.
    * ``num_threads`` (int | None): torch CPU threads during a call (restored
      afterwards); None keeps torch's setting.
    * ``min_size`` (int): an input image whose shorter side is below this
      many pixels gives the defined empty result (``success`` False,
      ``reason`` names the image and its size), checked on the input *before*
      any resizing: upsampling a tiny patch to ``resize_max`` would invent
      texture and matches (an 8 x 8 noise patch gave over 100 XFeat
      matches against a photo). The working image (after a downscale) must
      pass the same bound.

    Attributes:
        patch_size (float): nominal localisation scale of a match in input
            pixels of the working image (8 for XFeat / coarse-to-fine matchers,
            about 4 for SIFT and ALIKED). DMESA uses it as the size of a GMM
            component.
    """

    default_conf: Dict[str, Any] = dict(resize_max=640, device='auto', num_threads=None,
                                        min_size=16)
    patch_size: float = 8.0
    #: features of this many recent unmasked working images are kept (keyed by
    #: a hash of the working image's pixels), so that matching the same image
    #: again (A2PM's area pairs after the full-image call) skips the network;
    #: 0 disables the cache.
    feature_cache_size: int = 4
    #: the matches of this many recent pairs of *cached* features are kept too
    #: (DMESA's coarse call repeats A2PM's full-image call on the same working
    #: images); cleared with the feature cache.
    match_cache_size: int = 2

    def __init__(self, **conf: Any) -> None:
        super().__init__()
        self.conf = SimpleNamespace(**merge_conf(self.default_conf, conf, type(self).__name__))
        rm = self.conf.resize_max
        if rm is not None and (not isinstance(rm, (int, np.integer)) or rm < 8):
            raise ValueError(f'resize_max must be None or an int >= 8, got {rm!r}')
        dev = self.conf.device
        if dev == 'auto':
            dev = 'cuda' if torch.cuda.is_available() else 'cpu'
        self.device = torch.device(dev)
        self._feature_cache: 'OrderedDict[Tuple, Any]' = OrderedDict()
        self._match_cache: 'OrderedDict[Tuple, Tuple]' = OrderedDict()

    # ------------------------------------------------------------------
    def _match(self, image0: np.ndarray, image1: np.ndarray,
               mask0: Optional[np.ndarray], mask1: Optional[np.ndarray]) -> Dict[str, Any]:
        """Match two working-size images.

        Detector-descriptor matchers implement :meth:`_extract` and
        :meth:`_match_features` instead (this default chains them); matchers
        that look at both images jointly (LoFTR) override this.

        Args:
            image0 (np.ndarray): ``(h0, w0)`` or ``(h0, w0, 3)`` uint8.
            image1 (np.ndarray): ``(h1, w1)`` or ``(h1, w1, 3)`` uint8.
            mask0 (np.ndarray | None): ``(h0, w0)`` bool keypoint mask.
            mask1 (np.ndarray | None): ``(h1, w1)`` bool keypoint mask.

        Returns:
            dict: ``kpts0`` (N, 2), ``kpts1`` (N, 2) in working pixels,
            ``scores`` (N,) in [0, 1]; optionally ``num_keypoints0/1`` (int).
        """
        if not self.supports_extract:
            raise NotImplementedError(f'{type(self).__name__} implements neither _match '
                                      'nor _extract/_match_features')
        return self._match_features(self._extract(image0, mask0), self._extract(image1, mask1),
                                    image0.shape[:2], image1.shape[:2])

    @torch.inference_mode()
    def forward(self, data: Dict[str, Any]) -> Dict[str, Any]:
        """Match two images.

        Args:
            data (dict):

                * ``image0`` (np.ndarray): ``(H0, W0, 3)`` uint8 RGB or
                  ``(H0, W0)`` uint8 gray.
                * ``image1`` (np.ndarray): ``(H1, W1, 3)`` or ``(H1, W1)``;
                  sizes may differ from image0.
                * ``mask0`` (np.ndarray, optional): ``(H0, W0)`` bool, True
                  where keypoints of image0 may lie.
                * ``mask1`` (np.ndarray, optional): ``(H1, W1)`` bool.

        Returns:
            dict:

            * ``kpts0`` (np.ndarray): ``(N, 2)`` float32 ``(x, y)`` pixels in
              image0's input coordinates.
            * ``kpts1`` (np.ndarray): ``(N, 2)`` float32 in image1's.
            * ``scores`` (np.ndarray): ``(N,)`` float32 in [0, 1], higher is
              better.
            * ``num_keypoints0``, ``num_keypoints1`` (int): keypoints detected
              (detector-based matchers; the match count for dense ones).
            * ``success`` (bool): ``N > 0``.
            * ``reason`` (str): ``''`` on success, else why ``N = 0`` (uniform
              image, empty mask, image too small (input side below
              ``min_size``, checked before resizing), no match passed the tests).
            * ``timings`` (dict): seconds per stage, ``extract`` and ``match``
              (``match`` only for joint matchers such as LoFTR).

        Raises:
            ValueError: for bad images or masks (see :func:`check_image`).
        """
        if not isinstance(data, dict):
            raise ValueError(f'data must be a dict with image0 and image1, got '
                             f'{type(data).__name__}')
        images = [check_image(data.get(f'image{i}'), f'image{i}') for i in (0, 1)]
        masks = [check_mask(data.get(f'mask{i}'), images[i].shape[:2], f'mask{i}')
                 for i in (0, 1)]
        for i in (0, 1):
            small = size_problem(images[i].shape, None, self.conf.min_size, f'image{i}')
            if small:  # before resizing: an upsampled tiny patch invents matches
                return empty_matches(small)
            if images[i].min() == images[i].max():
                return empty_matches(f'image{i} is uniform (no texture to match)')
            if masks[i] is not None and not masks[i].any():
                return empty_matches(f'mask{i} is empty (no pixel may hold a keypoint)')

        work = [resize_long_side(img, self.conf.resize_max)[0] for img in images]
        wmasks = [resize_mask(msk, w_img.shape[1::-1]) for msk, w_img in zip(masks, work)]
        for i, w_img in enumerate(work):
            small = size_problem(images[i].shape, w_img.shape, self.conf.min_size, f'image{i}')
            if small:
                return empty_matches(small)

        timings: Dict[str, float] = {}
        with torch_threads(self.conf.num_threads):
            if type(self)._match is BaseMatcher._match:  # per-image features
                with timed(timings, 'extract'):
                    feats = [self._extract_cached(w_img, m) for w_img, m in zip(work, wmasks)]
                with timed(timings, 'match'):
                    pred = self._match_features_cached(feats, wmasks, work)
            else:
                with timed(timings, 'match'):
                    pred = self._match(work[0], work[1], wmasks[0], wmasks[1])
        return self._to_input(pred, [im.shape[:2] for im in images],
                              [w_img.shape[:2] for w_img in work], masks, timings)

    def _to_input(self, pred: Dict[str, Any], shapes, work_shapes, masks,
                  timings: Dict[str, float]) -> Dict[str, Any]:
        """Map working-size matches back to input pixels, apply the input masks."""
        kpts = []
        for i in (0, 1):
            k = np.asarray(pred[f'kpts{i}'], np.float64).reshape(-1, 2)
            h, w = shapes[i]
            (wh, ww) = work_shapes[i]
            k = (k + 0.5) * np.array([w / ww, h / wh])[None] - 0.5
            k[:, 0] = np.clip(k[:, 0], -0.5, w - 0.5)
            k[:, 1] = np.clip(k[:, 1], -0.5, h - 0.5)
            kpts.append(k)
        scores = np.clip(np.asarray(pred['scores'], np.float64).reshape(-1), 0.0, 1.0)
        keep = points_in_mask(kpts[0], masks[0]) & points_in_mask(kpts[1], masks[1])
        out = {k: v for k, v in pred.items() if k not in ('kpts0', 'kpts1', 'scores')}
        out.update(kpts0=kpts[0][keep].astype(np.float32),
                   kpts1=kpts[1][keep].astype(np.float32),
                   scores=scores[keep].astype(np.float32))
        out.setdefault('num_keypoints0', int(keep.sum()))
        out.setdefault('num_keypoints1', int(keep.sum()))
        if len(out['scores']) == 0:
            out.setdefault('reason', 'no match passed the matcher\'s tests')
        out['timings'] = timings
        return finalize_result(out, success=len(out['scores']) > 0)

    # ------------------------------------------------------------------
    # two-stage use: features of an image once, matched against many others
    @property
    def supports_extract(self) -> bool:
        """Whether :meth:`extract` / :meth:`match_features` are available
        (detector-descriptor matchers; not dense ones such as LoFTR)."""
        return type(self)._extract is not BaseMatcher._extract

    def _extract(self, image: np.ndarray, mask: Optional[np.ndarray]) -> Any:
        """Features of one working-size image (subclasses that support it)."""
        raise NotImplementedError(f'{type(self).__name__} matches image pairs jointly; '
                                  'it has no per-image extract()')

    def _match_features(self, feats0: Any, feats1: Any, size0: Tuple[int, int],
                        size1: Tuple[int, int]) -> Dict[str, Any]:
        """Match two :meth:`_extract` results; ``size`` = working ``(h, w)``."""
        raise NotImplementedError

    def _extract_cached(self, image: np.ndarray, mask: Optional[np.ndarray]) -> Any:
        """:meth:`_extract` through the feature cache (unmasked images only).

        The key is the working image's shape, dtype and a BLAKE2 digest of its
        pixels, so an image changed in place is extracted again. The cached
        features are the ones :meth:`_extract` returned (callers must not
        modify them).
        """
        if mask is not None or self.feature_cache_size <= 0:
            return self._extract(image, mask)
        img = np.ascontiguousarray(image)
        key = (img.shape, img.dtype.str, hashlib.blake2b(img.data, digest_size=16).digest())
        if key in self._feature_cache:
            self._feature_cache.move_to_end(key)
            return self._feature_cache[key]
        feats = self._extract(img, None)
        self._feature_cache[key] = feats
        while len(self._feature_cache) > self.feature_cache_size:
            self._feature_cache.popitem(last=False)
        return feats

    def _match_features_cached(self, feats: List[Any], masks: List[Optional[np.ndarray]],
                               work: List[np.ndarray]) -> Dict[str, Any]:
        """:meth:`_match_features` of two working images, through the match
        cache when both features came from the feature cache (unmasked): the
        same feature objects give the same matches. The cached prediction is
        returned as is (:meth:`_to_input` does not modify it)."""
        sizes = (work[0].shape[:2], work[1].shape[:2])
        if any(m is not None for m in masks) or self.match_cache_size <= 0 \
                or self.feature_cache_size <= 0:
            return self._match_features(feats[0], feats[1], *sizes)
        key = (id(feats[0]), id(feats[1])) + sizes
        hit = self._match_cache.get(key)
        if hit is not None and hit[0] is feats[0] and hit[1] is feats[1]:
            self._match_cache.move_to_end(key)
            return hit[2]
        pred = None
        if self.symmetric_matching:  # the swapped pair's matches, swapped back
            rev = self._match_cache.get((id(feats[1]), id(feats[0])) + sizes[::-1])
            if rev is not None and rev[0] is feats[1] and rev[1] is feats[0]:
                pred = self._swap_prediction(rev[2], feats[0])
        if pred is None:
            pred = self._match_features(feats[0], feats[1], *sizes)
        # the entry holds the features, so their ids stay unique while it lives
        self._match_cache[key] = (feats[0], feats[1], pred)
        while len(self._match_cache) > self.match_cache_size:
            self._match_cache.popitem(last=False)
        return pred

    @property
    def symmetric_matching(self) -> bool:
        """Whether matching ``(B, A)`` gives the matches of ``(A, B)`` with the
        two sides swapped (mutual nearest neighbours); then the match cache
        answers a swapped pair (DMESA's reverse coarse call) without matching
        again. False by default (LightGlue attends asymmetrically)."""
        return False

    @staticmethod
    def _swap_prediction(pred: Dict[str, Any], feats0: Any) -> Dict[str, Any]:
        """A cached ``(B, A)`` prediction as the ``(A, B)`` one: sides swapped,
        matches ordered by their keypoint's index in ``feats0`` (A), as
        :func:`indexed_matches` orders a direct call."""
        out = dict(pred, kpts0=pred['kpts1'], kpts1=pred['kpts0'])
        if 'num_keypoints0' in pred and 'num_keypoints1' in pred:
            out['num_keypoints0'] = pred['num_keypoints1']
            out['num_keypoints1'] = pred['num_keypoints0']
        kp = feats0['keypoints'].cpu().numpy() if isinstance(feats0, dict) else None
        k0 = np.asarray(out['kpts0'])
        if kp is not None and len(k0):
            index = {tuple(p): i for i, p in reversed(list(enumerate(kp.tolist())))}
            order = np.argsort([index.get(tuple(p), len(kp)) for p in k0.tolist()],
                               kind='stable')
            for k in ('kpts0', 'kpts1', 'scores'):
                out[k] = np.asarray(out[k])[order]
        return out

    def clear_feature_cache(self) -> None:
        """Forget the cached features and matches (e.g. after changing weights
        or device)."""
        self._feature_cache.clear()
        self._match_cache.clear()

    def _apply(self, *args, **kwargs):  # .to(), .cuda(), .float(): cached tensors are stale
        self.clear_feature_cache()
        return super()._apply(*args, **kwargs)

    def load_state_dict(self, *args, **kwargs):
        self.clear_feature_cache()
        return super().load_state_dict(*args, **kwargs)

    def _extract_batch(self, images: List[np.ndarray]) -> List[Any]:
        """Features of several working-size images of one shape (no masks).

        The default runs :meth:`_extract` on each; matchers whose network takes
        a batch (XFeat, ALIKED) override it. Must return what :meth:`_extract`
        returns for each image (to float tolerance).
        """
        return [self._extract(img, None) for img in images]

    def _prepare(self, image: np.ndarray, mask: Optional[np.ndarray],
                 working_size: Optional[int]) -> Tuple[Dict[str, Any], Optional[np.ndarray]]:
        """Checks of :meth:`extract`: the result dict without features and the
        working image (None when the image cannot be matched, ``reason`` says why)."""
        if not self.supports_extract:
            raise ValueError(f'{type(self).__name__} has no per-image extract(); '
                             'use forward() on image pairs')
        img = check_image(image, 'image')
        msk = check_mask(mask, img.shape[:2], 'mask')
        out = dict(feats=None, shape=img.shape[:2], work_shape=None, scale=1.0, mask=msk,
                   reason='', timings={})
        small = size_problem(img.shape, None, self.conf.min_size, 'image')
        if small:
            return dict(out, reason=small), None
        if img.min() == img.max():
            return dict(out, reason='image is uniform (no texture to match)'), None
        if msk is not None and not msk.any():
            return dict(out, reason='mask is empty (no pixel may hold a keypoint)'), None
        size = self.conf.resize_max if working_size is None else int(working_size)
        work, scale = resize_long_side(img, size)
        small = size_problem(img.shape, work.shape, self.conf.min_size, 'image')
        if small:
            return dict(out, reason=small), None
        return dict(out, work_shape=work.shape[:2], scale=scale), work

    @torch.inference_mode()
    def extract(self, image: np.ndarray, mask: Optional[np.ndarray] = None,
                working_size: Optional[int] = None) -> Dict[str, Any]:
        """Features of one image, to be matched later with :meth:`match_features`.

        ``match_features(extract(a), extract(b))`` returns exactly what
        ``forward(dict(image0=a, image1=b))`` returns, so callers that match one
        image against many (MESA's crop pairs) compute each image's features once.

        Args:
            image (np.ndarray): ``(H, W, 3)`` RGB or ``(H, W)`` gray uint8.
            mask (np.ndarray, optional): ``(H, W)`` bool keypoint mask.
            working_size (int, optional): longer side of the working image, px;
                None = the matcher's ``resize_max`` (what :meth:`forward` uses).

        Returns:
            dict: ``feats`` (matcher-specific, None when the image cannot be
            matched), ``shape`` (input ``(H, W)``), ``work_shape`` (working
            ``(h, w)``), ``scale`` (float, working / input size, see
            :func:`~vision_sparse.utils.image.resize_long_side`), ``mask``,
            ``reason`` (``''``, or why ``feats`` is None) and ``timings``
            (``extract`` seconds).

        Raises:
            ValueError: for bad images or masks, or a matcher without
                per-image features (see :attr:`supports_extract`).
        """
        out, work = self._prepare(image, mask, working_size)
        if work is None:
            return out
        timings: Dict[str, float] = {}
        with torch_threads(self.conf.num_threads), timed(timings, 'extract'):
            feats = self._extract_cached(work, resize_mask(out['mask'], work.shape[1::-1]))
        return dict(out, feats=feats, timings=timings)

    @torch.inference_mode()
    def extract_batch(self, images: Sequence[np.ndarray], batch_size: int = 8
                      ) -> List[Dict[str, Any]]:
        """:meth:`extract` of several images, run through the network in batches.

        Images whose working images have one shape (e.g. A2PM's square area
        crops) are stacked, ``batch_size`` at a time, through
        :meth:`_extract_batch`; the results equal :meth:`extract` of each image
        (to float tolerance: batched convolutions may round differently).

        Args:
            images (Sequence[np.ndarray]): ``(H, W, 3)`` / ``(H, W)`` uint8 each.
            batch_size (int): images per network call, >= 1.

        Returns:
            list[dict]: one :meth:`extract` result per image, in order
            (``timings['extract']`` is the batch's time split evenly).
        """
        if int(batch_size) < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        prepared = [self._prepare(img, None, None) for img in images]
        outs = [p[0] for p in prepared]
        groups: Dict[Tuple[int, ...], List[int]] = {}
        for i, (_, work) in enumerate(prepared):
            if work is not None:
                groups.setdefault(work.shape, []).append(i)
        with torch_threads(self.conf.num_threads):
            for idx in groups.values():
                for start in range(0, len(idx), int(batch_size)):
                    chunk = idx[start:start + int(batch_size)]
                    timings: Dict[str, float] = {}
                    with timed(timings, 'extract'):
                        feats = self._extract_batch([prepared[i][1] for i in chunk])
                    for i, f in zip(chunk, feats):
                        outs[i] = dict(outs[i], feats=f,
                                       timings=dict(extract=timings['extract'] / len(chunk)))
        return outs

    @staticmethod
    def select_features(feat: Dict[str, Any], keep: np.ndarray) -> Dict[str, Any]:
        """The keypoints ``keep`` of an :meth:`extract` result (same dict form).

        Args:
            feat (dict): an :meth:`extract` result with features.
            keep (np.ndarray): ``(N,)`` bool over its keypoints (see
                :meth:`feature_keypoints`).

        Returns:
            dict: the result with every per-keypoint array / tensor of
            ``feats`` indexed by ``keep``.
        """
        keep = np.asarray(keep, bool)

        def pick(v):
            if isinstance(v, torch.Tensor):
                return v[torch.from_numpy(keep).to(v.device)]
            return np.asarray(v)[keep]

        f = feat['feats']
        if isinstance(f, dict):
            sub = {k: pick(v) for k, v in f.items()}
        elif isinstance(f, (tuple, list)):
            sub = type(f)(pick(v) for v in f)
        else:
            raise ValueError(f'cannot select keypoints of features of type {type(f).__name__}')
        return dict(feat, feats=sub)

    @staticmethod
    def feature_keypoints(feat: Dict[str, Any]) -> np.ndarray:
        """``(N, 2)`` float64 keypoints ``(x, y)`` of an :meth:`extract` result,
        in input pixels (features stored as a dict with ``keypoints`` or as a
        tuple whose first item holds them)."""
        f = feat['feats']
        if f is None:
            return np.zeros((0, 2))
        k = f['keypoints'] if isinstance(f, dict) else f[0]
        if isinstance(k, torch.Tensor):
            k = k.detach().cpu().numpy()
        k = np.asarray(k, np.float64).reshape(-1, 2)
        (h, w), (wh, ww) = feat['shape'], feat['work_shape']
        return (k + 0.5) * np.array([w / ww, h / wh])[None] - 0.5

    @torch.inference_mode()
    def match_features(self, feat0: Dict[str, Any], feat1: Dict[str, Any]) -> Dict[str, Any]:
        """Match two :meth:`extract` results; same output as :meth:`forward`
        (``timings`` holds ``match`` only: the extraction was timed by :meth:`extract`)."""
        for i, f in enumerate((feat0, feat1)):
            if not isinstance(f, dict) or 'feats' not in f:
                raise ValueError(f'feat{i} must be the dict returned by extract()')
            if f['feats'] is None:
                return empty_matches(f"image{i}: {f.get('reason') or 'no features'}")
        timings: Dict[str, float] = {}
        with torch_threads(self.conf.num_threads), timed(timings, 'match'):
            pred = self._match_features(feat0['feats'], feat1['feats'], feat0['work_shape'],
                                        feat1['work_shape'])
        return self._to_input(pred, [feat0['shape'], feat1['shape']],
                              [feat0['work_shape'], feat1['work_shape']],
                              [feat0['mask'], feat1['mask']], timings)

    def match(self, image0: np.ndarray, image1: np.ndarray,
              mask0: Optional[np.ndarray] = None,
              mask1: Optional[np.ndarray] = None) -> Dict[str, Any]:
        """Convenience wrapper: ``forward(dict(image0=..., image1=..., mask0=..., mask1=...))``.

        See :meth:`forward` for shapes and the returned keys.
        """
        return self.forward(dict(image0=image0, image1=image1, mask0=mask0, mask1=mask1))

    # ------------------------------------------------------------------
    # helpers for subclasses
    @staticmethod
    def to_gray(image: np.ndarray) -> np.ndarray:
        """``(H, W)`` uint8 gray from an RGB or gray image."""
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)

    @staticmethod
    def to_rgb(image: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB from an RGB or gray image."""
        return image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)

    def to_tensor(self, image: np.ndarray) -> torch.Tensor:
        """``(1, C, H, W)`` float32 in [0, 1] on the matcher's device."""
        t = torch.from_numpy(image).to(self.device, torch.float32) / 255.0
        return t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[None]

    def extra_repr(self) -> str:
        return ', '.join(f'{k}={v!r}' for k, v in vars(self.conf).items())
