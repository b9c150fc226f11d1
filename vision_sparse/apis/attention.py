"""AttentionInferencer: a source and a target image in, a dense token correspondence out."""
import os
import os.path as osp
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

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
    and pass the ``iter_*.pth`` it writes, or briefly in place with
    :meth:`fit` (and keep it with :meth:`save_checkpoint`).

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

    def __call__(self, src_img: ImageLike, tgt_img: ImageLike,
                 return_attention: bool = False) -> Dict[str, Any]:
        """Match every token of ``tgt_img`` to ``src_img``; arguments and result
        as in the class docstring.

        With ``return_attention`` the result also holds ``attention``
        ``(N, N)`` float32: the head-averaged attention of every target token
        (rows, row-major) over the source tokens (columns), rows summing to 1;
        :meth:`attention_at` reads one row as a ``(h, w)`` map."""
        t_start = time.perf_counter()
        timings: Dict[str, float] = {}
        with timed(timings, 'load'):
            src, tgt = load_image(src_img, 'src_img'), load_image(tgt_img, 'tgt_img')
            size = self._working_size(src)
            frames = torch.stack([self._to_tensor(src, size), self._to_tensor(tgt, size)])[None]
            device = next(self.model.parameters()).device
        with timed(timings, 'match'):
            out = self.model.match(frames.to(device))[0]
            if return_attention:
                with torch.no_grad():
                    logits, _ = self.model.logits(frames.to(device))
                attention = torch.softmax(logits[0], dim=-1).mean(dim=0).cpu().numpy()
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
        if return_attention:
            result['attention'] = attention.astype(np.float32)
        timings['total'] = time.perf_counter() - t_start
        return self.finish(result, timings)

    @staticmethod
    def attention_at(result: Dict[str, Any], xy: Sequence[float]) -> Dict[str, Any]:
        """The attention over the source of the target token under one target pixel.

        Args:
            result (dict): a result of ``inferencer(src, tgt, return_attention=True)``.
            xy (tuple[float, float]): ``(x, y)`` pixel of the target image (as
                given to the call; pixel centres at integers).

        Returns:
            dict: ``map`` ``(h, w)`` float32 attention over the source tokens
            (sums to 1); ``token`` ``(2,)`` int64 ``(column, row)`` and ``index``
            (int, row-major) of the target token; ``kpt1`` ``(2,)`` its centre
            and ``kpt0`` ``(2,)`` the centre of its matched (argmax) source token,
            pixels of the target / source image; ``score`` (float) the argmax weight.

        Raises:
            ValueError: a result without ``attention`` or a pixel outside the target.
        """
        if 'attention' not in result:
            raise ValueError('result has no attention map: call the inferencer with '
                             'return_attention=True')
        if len(xy) != 2 or not all(np.isfinite(float(v)) for v in xy):
            raise ValueError(f'xy must be a finite (x, y) pixel, got {xy!r}')
        w_img, h_img = (int(v) for v in result['image_size1'])
        x, y = float(xy[0]), float(xy[1])
        if not (-0.5 <= x < w_img - 0.5 and -0.5 <= y < h_img - 0.5):
            raise ValueError(f'xy ({x:g}, {y:g}) is outside the target image '
                             f'(width {w_img}, height {h_img} px)')
        h, w = (int(v) for v in result['token_hw'])
        col = min(int((x + 0.5) * w / w_img), w - 1)
        row = min(int((y + 0.5) * h / h_img), h - 1)
        index = row * w + col
        return dict(map=np.asarray(result['attention'][index], np.float32).reshape(h, w),
                    token=np.array([col, row], np.int64), index=index,
                    kpt1=np.asarray(result['kpts1'][index]), kpt0=np.asarray(result['kpts0'][index]),
                    score=float(result['scores'][index]))

    def fit(self, steps: int = 100, batch_size: int = 4, lr: Optional[float] = None,
            dataset: Optional[Dict] = None, seed: int = 0,
            progress: Optional[Callable[[int, int, float], None]] = None) -> Dict[str, List[float]]:
        """Train the matching attention in place on synthetic warps (a short ``tools/train.py``).

        Adam on the trainable parameters (the q / k projections) with a cosine
        decay to 0, on batches of :class:`~vision_sparse.datasets.SyntheticWarpPairsDataset`
        pairs, the config's ``train_dataloader.dataset`` unless ``dataset`` is
        given. The model is left in eval mode; :meth:`save_checkpoint` keeps it.

        Args:
            steps (int): optimiser steps (>= 1).
            batch_size (int): pairs per step (>= 1).
            lr (float, optional): learning rate; default the config's
                ``optim_wrapper.optimizer.lr`` (else 0.01).
            dataset (dict, optional): arguments of ``SyntheticWarpPairsDataset``
                replacing / completing the config's (e.g. ``image_dir``,
                ``image_size``, ``num_pairs``).
            seed (int): seed of the pair order.
            progress (callable, optional): ``progress(step, steps, loss)`` after
                every step; raise from it to stop the training (the exception
                propagates; the weights keep the steps done).

        Returns:
            dict: ``loss`` and ``accuracy`` (fraction of target tokens matched
            within 1 token of the truth) per step, lists of float.

        Raises:
            ValueError: bad ``steps``, ``batch_size`` or ``lr``, or a bad dataset.
        """
        from vision_sparse.datasets import SyntheticWarpPairsDataset
        for name, value in (('steps', steps), ('batch_size', batch_size)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        if lr is None:
            optim = (self.cfg.get('optim_wrapper') or {}).get('optimizer') or {}
            lr = float(optim.get('lr', 0.01))
        if not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
            raise ValueError(f'lr must be a positive number, got {lr!r}')
        base = dict(((self.cfg.get('train_dataloader') or {}).get('dataset') or {}))
        base = base.to_dict() if hasattr(base, 'to_dict') else base
        base.pop('type', None)
        base.update(dataset or {})
        if self.image_size is not None and not (dataset or {}).get('image_size'):
            base['image_size'] = self.image_size
        data = SyntheticWarpPairsDataset(**base)
        order = np.random.default_rng(seed).permutation(len(data))
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=float(lr))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, int(steps))
        device = next(self.model.parameters()).device
        history: Dict[str, List[float]] = dict(loss=[], accuracy=[])
        self.model.train()
        try:
            for step in range(int(steps)):
                items = [data[int(order[(step * batch_size + k) % len(order)])]
                         for k in range(batch_size)]
                inputs = [item['inputs'].to(device) for item in items]
                samples = [item['data_samples'] for item in items]
                with torch.enable_grad():
                    out = self.model(inputs, samples, mode='loss')
                    opt.zero_grad(set_to_none=True)
                    out['loss_corr'].backward()
                opt.step()
                sched.step()
                history['loss'].append(float(out['loss_corr'].detach()))
                history['accuracy'].append(float(out['acc_1tok']))
                if progress is not None:
                    progress(step + 1, int(steps), history['loss'][-1])
        finally:
            self.model.eval()
        return history

    def save_checkpoint(self, path: str) -> str:
        """Save the model's weights (``state_dict``) where ``checkpoint=`` can load them.

        Returns:
            str: ``path``.
        """
        path = os.fspath(path)
        if osp.dirname(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
        torch.save(dict(state_dict=self.model.state_dict(), meta=dict(source='AttentionInferencer.fit')),
                   path)
        return path

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
