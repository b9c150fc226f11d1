"""A2PM consensus fusion at a glance: area pairs by verdict and the kept matches."""
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ._common import _ipt
from .images import make_grid, put_text_block
from .matches import draw_matches

__all__ = ['draw_fusion_consensus']

AGREE, OUTVOTED, DROPPED, WRONG = (40, 200, 60), (235, 140, 20), (150, 150, 150), (230, 20, 60)
FULL_MATCH, AREA_MATCH = (30, 120, 255), (40, 200, 60)


def _box(canvas: np.ndarray, b, off: int, color, thick: int) -> None:
    cv2.rectangle(canvas, _ipt((b[0] + off, b[1])), _ipt((b[2] + off, b[3])), color, thick,
                  cv2.LINE_AA)


def draw_fusion_consensus(img0: np.ndarray, img1: np.ndarray, result: Dict,
                          highlight: Optional[int] = None,
                          highlight_matches: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                          max_lines: int = 400,
                          text: Union[str, Sequence[str], None] = None) -> np.ndarray:
    """Picture of one A2PM result: which area pairs the consensus kept.

    Top: both images side by side with every matched area pair - green: agrees
    with the consensus geometry (its matches are kept), orange: verified but
    outvoted, grey: dropped by the verification before point matching; the
    ``highlight`` pair (default: the outvoted pair whose own geometry scored
    highest, i.e. the strongest wrong rival) is drawn thick in red, with its
    own matches (``highlight_matches``, optional) as red lines. Bottom: the kept
    matches, blue from the full image, green from area pairs.

    Args:
        img0, img1 (np.ndarray): the two images (RGB, any sizes).
        result (dict): output of :class:`~vision_sparse.models.area_matchers.A2PMMatcher`
            (``areas0``, ``areas1``, ``area_kept``, ``area_verified``,
            ``kpts0``, ``kpts1``, ``from_area``, ``fusion_info``).
        highlight (int, optional): index of the area pair to highlight; -1
            for none.
        highlight_matches: ``(kpts0 (K, 2), kpts1 (K, 2))`` px of the
            highlighted pair's point matches.
        max_lines (int): at most this many match lines per panel.
        text: extra lines written on the top panel.

    Returns:
        np.ndarray: ``(2 H + pad, W0 + W1 + margin, 3)`` uint8 (panels stacked).

    Raises:
        ValueError: for a result without the area keys or a bad ``highlight``.
    """
    need = ('areas0', 'areas1', 'area_kept', 'kpts0', 'kpts1', 'from_area')
    if not isinstance(result, dict) or not set(need) <= set(result):
        raise ValueError(f'result must be an A2PMMatcher output with keys {need}')
    b0 = np.asarray(result['areas0'], np.float64).reshape(-1, 4)
    b1 = np.asarray(result['areas1'], np.float64).reshape(-1, 4)
    m = len(b0)
    kept = np.asarray(result['area_kept'], bool).reshape(-1)
    verified = np.asarray(result.get('area_verified', np.ones(m, bool)), bool).reshape(-1)
    scores = np.asarray((result.get('fusion_info') or {}).get('hypothesis_scores',
                                                               np.full(m + 1, np.nan)))[:m]
    if highlight is None:
        rivals = np.nonzero(verified & ~kept & np.isfinite(scores))[0]
        highlight = int(rivals[np.argmax(scores[rivals])]) if len(rivals) else -1
    if not -1 <= highlight < m:
        raise ValueError(f'highlight must be in [-1, {m}), got {highlight}')
    hk0, hk1 = (highlight_matches if highlight_matches is not None
                else (np.zeros((0, 2)), np.zeros((0, 2))))
    top = draw_matches(img0, img1, hk0, hk1, color=WRONG, max_lines=max_lines, pad_value=255)
    off = np.asarray(img0).shape[1] + 10
    for i in np.argsort(kept.astype(int) + (np.arange(m) == highlight) * 2, kind='stable'):
        color = (WRONG if i == highlight else AGREE if kept[i] else
                 OUTVOTED if verified[i] else DROPPED)
        thick = 4 if i == highlight else 2
        _box(top, b0[i], 0, color, thick)
        _box(top, b1[i], off, color, thick)
    info = result.get('fusion_info') or {}
    lines = [f'area pairs: {int(kept.sum())} agree (green), {int((verified & ~kept).sum())} '
             f'outvoted (orange), {int((~verified).sum())} dropped before matching (grey)']
    if highlight >= 0:
        all_scores = np.asarray(info.get('hypothesis_scores', np.full(m + 1, np.nan)))
        win = int(info.get('winner', -2))
        w_name = 'full image' if win == -1 else f'pair {win}' if win >= 0 else 'none'
        w_score = all_scores[win] if win >= -1 else np.nan
        lines.append(f'red: pair {highlight}, the strongest outvoted geometry (score '
                     f'{scores[highlight]:.2f}; winner {w_name}, score {w_score:.2f}'
                     + (', won on the sources agreeing with only one of them)'
                        if scores[highlight] > w_score else ')'))
    lines += [text] if isinstance(text, str) else list(text or [])
    top = put_text_block(top, lines)
    src = np.asarray(result['from_area']).reshape(-1)
    colors = np.array([FULL_MATCH if s < 0 else AREA_MATCH for s in src], np.uint8).reshape(-1, 3)
    bottom = draw_matches(img0, img1, result['kpts0'], result['kpts1'], color=colors,
                          max_lines=max_lines, pad_value=255)
    bottom = put_text_block(bottom, [f'kept matches: {int((src < 0).sum())} full image (blue), '
                                     f'{int((src >= 0).sum())} from agreeing area pairs (green)'])
    return make_grid([top, bottom], ncols=1, pad=4)
