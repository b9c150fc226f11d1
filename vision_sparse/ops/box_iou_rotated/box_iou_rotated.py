"""The rotated-box IoU op: dispatch between the compiled kernel and the reference."""
import torch
from torch import Tensor

from .._ext import use_ext
from .reference import (_MODES, _check_eps, _check_inputs, _compute_dtype,
                        box_iou_rotated_reference)

__all__ = ['box_iou_rotated']


def box_iou_rotated(boxes1: Tensor, boxes2: Tensor, aligned: bool = False,
                    mode: str = 'iou', eps: float = 1e-6) -> Tensor:
    """IoU (or IoF) of rotated boxes.

    Args:
        boxes1 (Tensor): (N, 5) boxes (cx, cy, w, h, theta), theta in radians.
        boxes2 (Tensor): (M, 5) boxes; (N, 5) when ``aligned``.
        aligned (bool): IoU of the pairs (boxes1[i], boxes2[i]) only.
        mode (str): 'iou' (intersection / union) or 'iof' (intersection /
            area of boxes1).
        eps (float): lower bound of the denominator, a finite number >= 0.  A pair
            with no intersection (in particular any pair with a zero-area box)
            has IoU 0 for every eps, 0 included (never NaN).

    Returns:
        Tensor: (N, M), or (N,) when aligned, in [0, 1]; dtype of the inputs
        (float16 / bfloat16 are computed in float32), on their device.

    Raises:
        ValueError: a box tensor of the wrong shape or with NaN / inf, or with
            ``|cx|, |cy|, w, h`` above ``sqrt(max of the compute dtype) / 64``
            (~2.9e17 in float32, ~2.1e152 in float64); an unknown ``mode``;
            ``eps`` negative or not finite; boxes on two devices.

    Runs the compiled kernel when it is built for the inputs' device and no
    gradient is required; otherwise :func:`box_iou_rotated_reference`.
    """
    _check_inputs(boxes1, boxes2, aligned, mode)
    eps = _check_eps(eps)
    comp, out_dtype = _compute_dtype(boxes1, boxes2)
    needs_grad = torch.is_grad_enabled() and (boxes1.requires_grad or boxes2.requires_grad)
    if needs_grad or not use_ext(boxes1):
        return box_iou_rotated_reference(boxes1, boxes2, aligned, mode, eps)
    b1 = boxes1.to(comp).contiguous()
    b2 = boxes2.to(comp).contiguous()
    out = torch.ops.vision_sparse.box_iou_rotated(b1, b2, bool(aligned), _MODES[mode],
                                                  float(eps))
    return out.to(out_dtype)
