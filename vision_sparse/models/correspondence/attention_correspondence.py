"""Dense correspondences from FramePainter matching attention, as a trainable model.

Two frames (source, target) are cut into tokens by a patch embedding
(:class:`RandomPatchEmbedding` by default), a
:class:`~vision_sparse.models.layers.MatchingAttention` attends from every
target token to the source tokens, and its attention map is the
correspondence: the argmax source token of every target token (and the
soft-argmax). Training supervises the map with
:class:`~vision_sparse.models.losses.CorrespondenceLoss`
(``-log A[i, m(i)]``) on pairs with a known warp
(:class:`~vision_sparse.datasets.SyntheticWarpPairsDataset`). Only the q / k
projections shape the map; the value and output projections are frozen.

Coordinates: token ``(c, r)`` covers pixels ``[c p, (c + 1) p) x [r p, (r + 1) p)``
and its centre is pixel ``(c p + (p - 1) / 2, r p + (p - 1) / 2)`` (pixel
centres at integers).
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor

from vision_sparse.registry import MODELS
from vision_sparse.utils.build import build_from_cfg_or_obj
from ..layers.attention import MatchingAttention, attention_to_matches
from ..losses import match_accuracy, matches_from_grid

__all__ = ['MatchingAttentionCorrespondence', 'tokens_to_pixels']


def tokens_to_pixels(xy: Tensor, patch_size: int) -> Tensor:
    """Token coordinates ``(x, y)`` (token centres at integers) -> pixels (centres at integers).

    Args:
        xy (Tensor): ``(..., 2)`` token units.
        patch_size (int): token size ``p``, pixels.

    Returns:
        Tensor: ``(..., 2)`` pixels, ``xy * p + (p - 1) / 2``.
    """
    return xy * patch_size + (patch_size - 1) / 2


def _stack_pairs(inputs: Union[Tensor, Sequence[Tensor]]) -> Tensor:
    """``(B, 2, 3, H, W)`` float from a tensor or a list of ``(2, 3, H, W)``."""
    if isinstance(inputs, (list, tuple)):
        if not inputs:
            raise ValueError('inputs is an empty list: give (2, 3, H, W) pairs')
        inputs = torch.stack([torch.as_tensor(x) for x in inputs])
    if not isinstance(inputs, Tensor) or inputs.dim() != 5 or tuple(inputs.shape[1:3]) != (2, 3):
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ValueError(f'inputs must be (B, 2, 3, H, W) (frame 0 source, frame 1 target) or '
                         f'a list of (2, 3, H, W), got {shape}')
    return inputs.float()


def _sample_grids(data_samples: Any, batch: int) -> Tensor:
    """The ``(B, H, W, 2)`` warp grids of a batch's samples (dict of lists or list of dicts)."""
    if isinstance(data_samples, dict):
        grids = data_samples.get('grid')
        grids = [grids] if isinstance(grids, Tensor) and grids.dim() == 3 else grids
    elif isinstance(data_samples, (list, tuple)):
        grids = [s.get('grid') if isinstance(s, dict) else None for s in data_samples]
    else:
        grids = None
    if grids is None or (not isinstance(grids, Tensor) and any(g is None for g in grids)):
        raise ValueError("data_samples must hold the warp 'grid' (H, W, 2) of every pair "
                         '(SyntheticWarpPairsDataset) for the loss and the ground truth')
    grids = grids if isinstance(grids, Tensor) else torch.stack(list(grids))
    if grids.dim() != 4 or grids.shape[0] != batch or grids.shape[-1] != 2:
        raise ValueError(f'grid must be (B={batch}, H, W, 2), got {tuple(grids.shape)}')
    return grids.float()


@MODELS.register_module()
class MatchingAttentionCorrespondence(BaseModel):
    """Patch tokens + matching attention + correspondence loss (FramePainter).

    Args:
        embedding (dict | nn.Module): the token embedding, built from
            ``MODELS`` (default :class:`RandomPatchEmbedding`, 8 px patches,
            64 random features plus 3x3 and 7x7 context averages, seed 0). It
            maps ``(B, F, 3, H, W)`` to ``((B * F, N, C), (h, w))`` and has
            ``patch_size`` and ``out_channels``.
        num_heads (int): attention heads (they divide ``C``).
        qkv_bias (bool): biases in the q / k / v projections.
        loss (dict | nn.Module): the loss on the per-head logits of target ->
            source, ``(B, heads, N, N)``, with ``target`` and ``valid``
            ``(B, N)`` (default ``CorrespondenceLoss``).
        data_preprocessor (dict, optional): mmengine data preprocessor.
        init_cfg (dict, optional): mmengine weight initialisation.

    ``forward(inputs, data_samples=None, mode='tensor')``:

    * ``inputs``: ``(B, 2, 3, H, W)`` float RGB (or a list of ``(2, 3, H, W)``),
      frame 0 the source, frame 1 the target; ``H, W`` multiples of the
      patch size.
    * ``data_samples``: per pair a dict with ``grid`` ``(H, W, 2)``, the
      normalised source position of every target pixel (needed by ``'loss'``;
      ``'predict'`` adds the ground truth when given).
    * ``mode='loss'``: ``dict(loss_corr=..., acc_1tok=...)`` (fraction of
      target tokens whose argmax is within 1 token of the truth, logged only).
    * ``mode='predict'``: a list (one per pair) of :meth:`match` outputs for
      that pair, plus with a grid ``gt_xy`` ``(N, 2)`` pixels, ``gt_tokens``
      ``(N, 2)`` token units (continuous) and ``gt_valid`` ``(N,)`` bool.
    * ``mode='tensor'``: logits ``(B, heads, N, N)`` of target -> source.
    """

    def __init__(self, embedding: Union[dict, Any, None] = None, num_heads: int = 2,
                 qkv_bias: bool = False, loss: Union[dict, Any, None] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if embedding is None:
            embedding = dict(type='RandomPatchEmbedding')
        if loss is None:
            loss = dict(type='CorrespondenceLoss')
        self.embedding = build_from_cfg_or_obj(embedding, MODELS, name='embedding')
        self.loss_corr = build_from_cfg_or_obj(loss, MODELS, name='loss')
        self.patch_size = int(self.embedding.patch_size)
        self.attention = MatchingAttention(int(self.embedding.out_channels), num_heads=num_heads,
                                           num_frames=2, source_frame=0, qkv_bias=qkv_bias)
        # values and output do not shape the attention map: not trained
        for module in (self.attention.to_v, self.attention.to_out):
            module.requires_grad_(False)

    # ------------------------------------------------------------------ core
    def logits(self, frames: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """Per-head logits of target -> source and the token grid.

        Args:
            frames (Tensor): ``(B, 2, 3, H, W)`` float, frame 0 source.

        Returns:
            tuple[Tensor, tuple[int, int]]: ``(B, heads, N, N)`` logits (entry
            ``[b, k, i, j]``: target token ``i``, source token ``j``) and
            ``(h, w)`` with ``N = h * w``.
        """
        tokens, hw = self.embedding(frames)
        _, logits = self.attention(tokens, num_frames=2, hw=hw, return_attn=True,
                                   attn_type='logits', attn_reduce='none')
        return logits[:, 1], hw

    @torch.no_grad()
    def match(self, frames: Tensor) -> List[Dict[str, Tensor]]:
        """The source token of every target token, per pair.

        Args:
            frames (Tensor): ``(B, 2, 3, H, W)`` float RGB, frame 0 source.

        Returns:
            list[dict]: per pair (tensors on the model's device)

            * ``pred_xy`` ``(N, 2)`` float32: centre of the argmax source token,
              pixels of the source frame; ``pred_tokens`` ``(N, 2)`` the same
              in token units (integers).
            * ``soft_xy`` ``(N, 2)`` float32: soft-argmax source position,
              pixels.
            * ``query_xy`` ``(N, 2)`` float32: centre of every target token,
              pixels of the target frame (row-major token order).
            * ``scores`` ``(N,)`` float32: head-averaged attention weight of
              the argmax token, in ``(0, 1]``.
            * ``token_hw`` ``(2,)`` int64 ``(h, w)``; ``patch_size`` (int).
        """
        frames = _stack_pairs(frames)
        logits, hw = self.logits(frames)
        probs = torch.softmax(logits, dim=-1).mean(dim=1)  # (B, N, N)
        scores, _ = probs.max(dim=-1)
        pred = attention_to_matches(probs, hw)
        soft = attention_to_matches(probs, hw, mode='soft')
        h, w = hw
        ys, xs = torch.meshgrid(torch.arange(h, device=probs.device, dtype=probs.dtype),
                                torch.arange(w, device=probs.device, dtype=probs.dtype),
                                indexing='ij')
        query = tokens_to_pixels(torch.stack([xs, ys], -1).reshape(-1, 2), self.patch_size)
        token_hw = torch.tensor([h, w], dtype=torch.int64)
        return [dict(pred_xy=tokens_to_pixels(pred[b], self.patch_size), pred_tokens=pred[b],
                     soft_xy=tokens_to_pixels(soft[b], self.patch_size), query_xy=query,
                     scores=scores[b], token_hw=token_hw, patch_size=self.patch_size)
                for b in range(len(frames))]

    # ------------------------------------------------------------------ mmengine
    def forward(self, inputs: Union[Tensor, Sequence[Tensor]], data_samples: Any = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], List[dict], Tensor]:
        """``'loss'``, ``'predict'`` or ``'tensor'`` (see the class docstring)."""
        frames = _stack_pairs(inputs)
        if mode == 'tensor':
            return self.logits(frames)[0]
        if mode == 'loss':
            grids = _sample_grids(data_samples, len(frames)).to(frames.device)
            logits, hw = self.logits(frames)
            target, valid, _ = matches_from_grid(grids, hw)
            loss = self.loss_corr(logits, target, valid)
            with torch.no_grad():
                pred = attention_to_matches(logits.softmax(-1).mean(1), hw)
                acc = match_accuracy(pred, target, valid, hw)
            return dict(loss_corr=loss, acc_1tok=acc)
        if mode == 'predict':
            results = self.match(frames)
            if data_samples is None:
                return results
            grids = _sample_grids(data_samples, len(frames)).to(frames.device)
            _, valid, coords = matches_from_grid(grids, tuple(results[0]['token_hw'].tolist()))
            for b, res in enumerate(results):
                res.update(gt_tokens=coords[b], gt_xy=tokens_to_pixels(coords[b], self.patch_size),
                           gt_valid=valid[b])
            return results
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
