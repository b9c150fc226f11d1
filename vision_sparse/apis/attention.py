"""AttentionInferencer: a source and a target image in, a dense token correspondence out."""
import time
import warnings
from typing import Any, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from vision_sparse.structures.results import timed
from .base import BaseInferencer, ImageLike, load_image

__all__ = ['AttentionInferencer']


class AttentionInferencer(BaseInferencer):
    """Match a target image to a source image with FramePainter matching attention.

    Works with the ``configs/framepainter/*`` configs (model
    :class:`~vision_sparse.models.correspondence.MatchingAttentionCorrespondence`).
    Both images are resized to the model's working size (``image_size``);
    every target token gets the source token its attention map peaks on, and
    the token centres are given in the pixels of each input image.

    The attention is learned: without a checkpoint the model keeps its random
    initial q / k projections and its matches are close to chance (a
    ``UserWarning`` says so). Train one with ``python tools/train.py CONFIG``
    and pass the ``iter_*.pth`` it writes.

    Args:
        config (str | PathLike | dict | Config): a framepainter config (file or dict).
        checkpoint (str, optional): trained weights (see :class:`BaseInferencer`).
        device (str, optional): see :class:`BaseInferencer`.
        cfg_options (dict, optional): config overrides (dotted keys).
        image_size (tuple[int, int], optional): working size ``(H, W)``, pixels,
            multiples of the patch size; default the config's
            ``test_dataloader.dataset.image_size`` (the size it was evaluated
            at), else each pair's source size rounded down to whole patches.

    Call ``inferencer(src_img, tgt_img)``:

    Args:
        src_img, tgt_img (str | PathLike | np.ndarray): image files or
            ``(H, W, 3)`` RGB / ``(H, W)`` gray uint8 arrays (sizes may differ).

    Returns:
        dict: the result contract (``success``, ``reason``, ``timings``: seconds
        of ``load``, ``match``, ``total``) and, for the ``N = h * w`` target
        tokens in row-major order:

        * ``kpts1`` (np.ndarray): ``(N, 2)`` float32 ``(x, y)`` centres of the
          target tokens, pixels of ``tgt_img`` (pixel centres at integers);
          ``kpts0`` ``(N, 2)``: centres of their matched source tokens, pixels
          of ``src_img``. Row ``i`` of both is one target -> source match.
        * ``scores`` ``(N,)`` float32: attention weight of the match (head
          average, in ``(0, 1]``; ``1 / N`` is chance level).
        * ``flow`` ``(h, w, 2)`` float32: ``kpts0 - kpts1`` on the token grid,
          pixels (a displacement when both images have one size).
        * ``token_hw`` ``(2,)`` int64 ``(h, w)``; ``image_size`` ``(2,)`` int64
          working ``(H, W)``; ``image_size0``, ``image_size1`` ``(2,)`` int64
          ``(w, h)`` of the inputs; ``num_matches`` (int, ``N``) and
          ``mean_score`` (float).

        ``success`` is True whenever the images are valid (every token gets a
        match; low ``scores`` flag doubtful ones).

    Raises:
        ValueError: (construction) a config of another model or a bad
            ``image_size``; (call) unreadable files or images of another type,
            dtype or shape.
    """

    def __init__(self, config, checkpoint: Optional[str] = None, device=None,
                 cfg_options: Optional[Dict] = None,
                 image_size: Optional[Sequence[int]] = None) -> None:
        super().__init__(config, checkpoint, device, cfg_options)
        from vision_sparse.models.correspondence import MatchingAttentionCorrespondence
        if not isinstance(self.model, MatchingAttentionCorrespondence):
            raise ValueError('AttentionInferencer needs a framepainter config (model '
                             'MatchingAttentionCorrespondence), got model type '
                             f'{type(self.model).__name__}')
        self.patch_size = self.model.patch_size
        if image_size is None:
            dataset = (self.cfg.get('test_dataloader') or {}).get('dataset') or {}
            image_size = dataset.get('image_size')
        self.image_size = None if image_size is None else self._check_size(image_size)
        if checkpoint is None:
            warnings.warn('AttentionInferencer without a checkpoint: the matching attention is '
                          'untrained (random q/k projections) and its matches are near chance; '
                          'train with tools/train.py and pass checkpoint=', UserWarning)

    def _check_size(self, size: Sequence[int]) -> Tuple[int, int]:
        p = self.patch_size
        if (len(size) != 2 or any(int(s) != s or s < p or s % p for s in size)):
            raise ValueError(f'image_size must be (H, W), positive multiples of the patch size '
                             f'{p}, got {tuple(size)!r}')
        return int(size[0]), int(size[1])

    def _working_size(self, image: np.ndarray) -> Tuple[int, int]:
        if self.image_size is not None:
            return self.image_size
        p = self.patch_size
        return max(image.shape[0] // p, 1) * p, max(image.shape[1] // p, 1) * p

    @staticmethod
    def _to_tensor(image: np.ndarray, size: Tuple[int, int]) -> torch.Tensor:
        """``(3, H, W)`` float in [0, 1] at ``size`` (area interpolation when shrinking)."""
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        h, w = size
        if image.shape[:2] != (h, w):
            shrink = image.shape[0] > h or image.shape[1] > w
            image = cv2.resize(image, (w, h),
                               interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255

    @staticmethod
    def _rescale(xy: np.ndarray, working: Tuple[int, int], image: np.ndarray) -> np.ndarray:
        """Working pixels -> pixels of ``image`` (``x' = (x + 0.5) s - 0.5``)."""
        scale = np.array([image.shape[1] / working[1], image.shape[0] / working[0]])
        return ((xy + 0.5) * scale - 0.5).astype(np.float32)

    def __call__(self, src_img: ImageLike, tgt_img: ImageLike) -> Dict[str, Any]:
        """Match every token of ``tgt_img`` to ``src_img``; arguments and result
        as in the class docstring."""
        t_start = time.perf_counter()
        timings: Dict[str, float] = {}
        with timed(timings, 'load'):
            src, tgt = load_image(src_img, 'src_img'), load_image(tgt_img, 'tgt_img')
            size = self._working_size(src)
            frames = torch.stack([self._to_tensor(src, size), self._to_tensor(tgt, size)])[None]
            device = next(self.model.parameters()).device
        with timed(timings, 'match'):
            out = self.model.match(frames.to(device))[0]
        pred = out['pred_xy'].cpu().numpy()
        query = out['query_xy'].cpu().numpy()
        scores = out['scores'].cpu().numpy().astype(np.float32)
        h, w = (int(v) for v in out['token_hw'])
        kpts0, kpts1 = self._rescale(pred, size, src), self._rescale(query, size, tgt)
        result = dict(kpts0=kpts0, kpts1=kpts1, scores=scores,
                      flow=(kpts0 - kpts1).reshape(h, w, 2),
                      token_hw=np.array([h, w], np.int64), image_size=np.array(size, np.int64),
                      image_size0=np.array(src.shape[1::-1], np.int64),
                      image_size1=np.array(tgt.shape[1::-1], np.int64),
                      num_matches=len(kpts0), mean_score=float(scores.mean()),
                      success=True, reason='')
        timings['total'] = time.perf_counter() - t_start
        return self.finish(result, timings)

    def draw(self, result: Dict[str, Any], src_img: ImageLike, tgt_img: ImageLike,
             stride: int = 3, max_lines: int = 500) -> np.ndarray:
        """Source | target with the matches of every ``stride``-th token per axis,
        coloured by score.

        Returns:
            np.ndarray: ``(H, W, 3)`` uint8 RGB picture.
        """
        from vision_sparse.visualization import draw_matches
        src, tgt = load_image(src_img, 'src_img'), load_image(tgt_img, 'tgt_img')
        h, w = (int(v) for v in result['token_hw'])
        rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
        sel = np.flatnonzero(((rows % stride) == stride // 2) & ((cols % stride) == stride // 2))
        text = [f"{result['num_matches']} target tokens ({h}x{w}), mean score "
                f"{result['mean_score']:.3f} (chance {1 / max(h * w, 1):.4f})",
                f'one token in {stride} per axis drawn; source | target']
        return draw_matches(src, tgt, result['kpts0'][sel], result['kpts1'][sel],
                            color=result['scores'][sel], max_lines=max_lines, text=text)
