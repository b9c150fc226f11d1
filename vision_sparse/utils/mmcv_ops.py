"""The mmcv ops that the ``mmcv._ext`` stand-in serves (see :mod:`.patches`).

Each function has the signature with which mmcv-lite 2.1's python wrappers
(``mmcv/ops/*.py``) call the compiled ``ext_module`` and, like the compiled op,
either returns its result or writes it into the output tensor it is given.
They compute with ``torchvision.ops`` or with our own ops, imported on the
first call (so ``import vision_sparse`` stays light):

==================== ============================================================
mmcv ext function    served by
==================== ============================================================
``nms``              ``torchvision.ops.nms`` (``offset=1``: boxes' x2, y2 + 1, the
                     same widths ``x2 - x1 + 1`` as mmcv's kernel)
``roi_align_forward`` ``torchvision.ops.roi_align`` (``pool_mode`` avg only)
``roi_align_backward`` torchvision's roi_align backward kernel (avg only)
``box_iou_rotated``  :func:`vision_sparse.ops.box_iou_rotated`
``nms_rotated``      :func:`vision_sparse.ops.nms_rotated` /
                     :func:`~vision_sparse.ops.batched_nms_rotated`
``roi_align_rotated_forward``
                     :func:`vision_sparse.ops.roi_align_rotated` (compiled CPU /
                     CUDA kernel, same rois, ``aligned`` and ``clockwise``)
``roi_align_rotated_backward``
                     its feature gradient
                     (:func:`~vision_sparse.ops.roi_align_rotated.roi_align_rotated_features_grad`)
``ms_deform_attn_forward``
                     :func:`vision_sparse.ops.ms_deform_attn` (compiled CPU / CUDA
                     kernel; ``im2col_step`` is accepted and ignored)
``ms_deform_attn_backward``
                     its three gradients
                     (:func:`~vision_sparse.ops.ms_deform_attn.ms_deform_attn_grads`)
``sigmoid_focal_loss_forward``
                     pure PyTorch, the formula of mmcv's kernel per element (``log``
                     bounded below at FLT_MIN); mmdet's ``FocalLoss`` calls it on GPU
``sigmoid_focal_loss_backward``
                     its analytic gradient, as mmcv's kernel
==================== ============================================================

Where they differ from mmcv's kernels: ``nms_rotated`` suppresses a box whose
IoU is ``> iou_threshold`` and honours ``labels`` on every device, as mmcv's
CUDA kernel does (mmcv's CPU kernel suppresses at ``>=``, which differs only on
exact ties, and ignores the labels); ``box_iou_rotated`` bounds the denominator
below by 1e-6 (mmcv divides as is; they differ only for unions under 1e-6).
"""
from typing import Callable, Dict

import torch
from torch import Tensor


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, offset: int = 0) -> Tensor:
    """mmcv ``ext_module.nms``: greedy NMS of axis-aligned boxes.

    Args:
        boxes (Tensor): (N, 4) boxes (x1, y1, x2, y2).
        scores (Tensor): (N,) scores.
        iou_threshold (float): a box is discarded when its IoU with a kept box
            of higher score is > iou_threshold.
        offset (int): 0 or 1; widths are ``x2 - x1 + offset`` (mmcv's legacy
            pixel convention when 1).

    Returns:
        Tensor: int64 indices of the kept boxes by decreasing score.

    Raises:
        ValueError: ``offset`` not 0 or 1, ``boxes`` not (N, 4).
    """
    import torchvision

    if offset not in (0, 1):
        raise ValueError(f'nms: offset must be 0 or 1, got {offset!r}')
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f'nms: boxes must be (N, 4), got {tuple(boxes.shape)}')
    if offset == 1:
        boxes = boxes.clone()
        boxes[:, 2:] += 1
    return torchvision.ops.nms(boxes, scores.to(boxes.dtype), float(iou_threshold))


def _check_avg(pool_mode: int) -> None:
    if pool_mode != 1:
        raise NotImplementedError(
            "mmcv op 'roi_align' with pool_mode='max' is not available: mmcv-lite has no "
            'compiled ops and the vision_sparse stand-in serves only pool_mode=\'avg\' '
            '(through torchvision.ops.roi_align). Install full mmcv for max pooling.')


def roi_align_forward(input: Tensor, rois: Tensor, output: Tensor, argmax_y: Tensor,
                      argmax_x: Tensor, aligned_height: int, aligned_width: int,
                      spatial_scale: float, sampling_ratio: int, pool_mode: int,
                      aligned: bool) -> None:
    """mmcv ``ext_module.roi_align_forward``: writes RoIAlign of ``input`` into ``output``.

    Args:
        input (Tensor): (B, C, H, W) features.
        rois (Tensor): (K, 5) rois (batch_idx, x1, y1, x2, y2) in input pixels
            / ``spatial_scale``.
        output (Tensor): (K, C, aligned_height, aligned_width), overwritten.
        argmax_y (Tensor): unused (max pooling only).
        argmax_x (Tensor): unused (max pooling only).
        aligned_height (int): output height.
        aligned_width (int): output width.
        spatial_scale (float): scale from roi coordinates to feature pixels.
        sampling_ratio (int): samples per bin side (0: adaptive).
        pool_mode (int): 1 (avg); 0 (max) raises.
        aligned (bool): shift the rois by -0.5 pixel (the pixel-centre model).

    Raises:
        NotImplementedError: ``pool_mode`` is max.
    """
    _check_avg(pool_mode)
    import torchvision  # noqa: F401  (registers torch.ops.torchvision)

    out = torch.ops.torchvision.roi_align(
        input, rois.to(input.dtype), float(spatial_scale), int(aligned_height),
        int(aligned_width), int(sampling_ratio), bool(aligned))
    output.copy_(out)


def roi_align_backward(grad_output: Tensor, rois: Tensor, argmax_y: Tensor, argmax_x: Tensor,
                       grad_input: Tensor, aligned_height: int, aligned_width: int,
                       spatial_scale: float, sampling_ratio: int, pool_mode: int,
                       aligned: bool) -> None:
    """mmcv ``ext_module.roi_align_backward``: adds the gradient w.r.t. the
    features into ``grad_input`` (B, C, H, W); arguments as
    :func:`roi_align_forward`, ``grad_output`` (K, C, aligned_height, aligned_width).

    Raises:
        NotImplementedError: ``pool_mode`` is max.
    """
    _check_avg(pool_mode)
    import torchvision  # noqa: F401  (registers torch.ops.torchvision)

    b, c, h, w = grad_input.shape
    grad = torch.ops.torchvision._roi_align_backward(
        grad_output.contiguous(), rois.to(grad_output.dtype), float(spatial_scale),
        int(aligned_height), int(aligned_width), b, c, h, w, int(sampling_ratio),
        bool(aligned))
    grad_input.add_(grad.to(grad_input.dtype))


def box_iou_rotated(bboxes1: Tensor, bboxes2: Tensor, ious: Tensor, mode_flag: int = 0,
                    aligned: bool = False) -> None:
    """mmcv ``ext_module.box_iou_rotated``: writes the IoUs into ``ious``.

    Args:
        bboxes1 (Tensor): (N, 5) boxes (cx, cy, w, h, theta), theta clockwise
            on screen (mmcv's wrapper has already flipped counter-clockwise ones).
        bboxes2 (Tensor): (M, 5) boxes ((N, 5) when ``aligned``).
        ious (Tensor): (N * M,) or (N,) when ``aligned``, overwritten.
        mode_flag (int): 0 IoU, 1 IoF (intersection / area of bboxes1).
        aligned (bool): pairwise IoU of (bboxes1[i], bboxes2[i]).
    """
    from vision_sparse.ops import box_iou_rotated as _box_iou_rotated

    mode = {0: 'iou', 1: 'iof'}.get(int(mode_flag))
    if mode is None:
        raise ValueError(f'box_iou_rotated: mode_flag must be 0 or 1, got {mode_flag!r}')
    res = _box_iou_rotated(bboxes1, bboxes2, aligned=bool(aligned), mode=mode)
    ious.copy_(res.reshape(ious.shape))


def nms_rotated(dets: Tensor, scores: Tensor, order: Tensor, dets_sorted: Tensor,
                labels: Tensor, iou_threshold: float, multi_label: bool) -> Tensor:
    """mmcv ``ext_module.nms_rotated``: greedy NMS of rotated boxes.

    Args:
        dets (Tensor): (N, 5) boxes (cx, cy, w, h, theta), or (N, 6) with the
            label appended when ``multi_label``.
        scores (Tensor): (N,) scores.
        order (Tensor): unused (the boxes are sorted here).
        dets_sorted (Tensor): unused.
        labels (Tensor): (N,) labels when ``multi_label``.
        iou_threshold (float): suppress when IoU > iou_threshold.
        multi_label (bool): boxes of different labels never suppress each other.

    Returns:
        Tensor: int64 indices into ``dets`` of the kept boxes by decreasing score.
    """
    from vision_sparse.ops import batched_nms_rotated, nms_rotated as _nms_rotated

    boxes = dets[:, :5]
    if multi_label:
        return batched_nms_rotated(boxes, scores, labels, float(iou_threshold))
    return _nms_rotated(boxes, scores, float(iou_threshold))


def roi_align_rotated_forward(input: Tensor, rois: Tensor, output: Tensor, pooled_height: int,
                              pooled_width: int, spatial_scale: float, sampling_ratio: int,
                              aligned: bool, clockwise: bool) -> None:
    """mmcv ``ext_module.roi_align_rotated_forward``: writes rotated RoIAlign into ``output``.

    Args:
        input (Tensor): (B, C, H, W) features.
        rois (Tensor): (N, 6) rois (batch_idx, cx, cy, w, h, theta), theta in
            radians; converted to the dtype of ``input``.
        output (Tensor): (N, C, pooled_height, pooled_width), overwritten.
        pooled_height (int): output height.
        pooled_width (int): output width.
        spatial_scale (float): scale from roi coordinates to feature pixels.
        sampling_ratio (int): samples per bin side (0: adaptive).
        aligned (bool): shift the rois by -0.5 pixel (the pixel-centre model).
        clockwise (bool): theta turns clockwise on screen (mmcv's default False:
            counter-clockwise).
    """
    from vision_sparse.ops.roi_align_rotated import roi_align_rotated

    with torch.no_grad():
        out = roi_align_rotated(input, rois.to(input.dtype), (int(pooled_height),
                                                               int(pooled_width)),
                                float(spatial_scale), int(sampling_ratio), bool(aligned),
                                bool(clockwise))
    output.copy_(out)


def roi_align_rotated_backward(grad_output: Tensor, rois: Tensor, grad_input: Tensor,
                               pooled_height: int, pooled_width: int, spatial_scale: float,
                               sampling_ratio: int, aligned: bool, clockwise: bool) -> None:
    """mmcv ``ext_module.roi_align_rotated_backward``: adds the gradient w.r.t. the
    features into ``grad_input`` (B, C, H, W); ``grad_output`` is
    (N, C, pooled_height, pooled_width), the other arguments as
    :func:`roi_align_rotated_forward`.
    """
    from vision_sparse.ops.roi_align_rotated import roi_align_rotated_features_grad

    if tuple(grad_output.shape[2:]) != (int(pooled_height), int(pooled_width)):
        raise ValueError(f'roi_align_rotated_backward: grad_output must be (N, C, '
                         f'{pooled_height}, {pooled_width}), got {tuple(grad_output.shape)}')
    grad = roi_align_rotated_features_grad(
        grad_output, rois.to(grad_output.dtype), tuple(grad_input.shape), float(spatial_scale),
        int(sampling_ratio), bool(aligned), bool(clockwise))
    grad_input.add_(grad.to(grad_input.dtype))


def ms_deform_attn_forward(value: Tensor, value_spatial_shapes: Tensor,
                           value_level_start_index: Tensor, sampling_locations: Tensor,
                           attention_weights: Tensor, im2col_step: int = 64) -> Tensor:
    """mmcv ``ext_module.ms_deform_attn_forward``: multi-scale deformable attention.

    Args:
        value (Tensor): (bs, num_keys, num_heads, head_dim).
        value_spatial_shapes (Tensor): (L, 2) int64 ``(H, W)`` per level.
        value_level_start_index (Tensor): (L,) int64, first key of every level.
        sampling_locations (Tensor): (bs, num_queries, num_heads, L, P, 2)
            normalised ``(x, y)``.
        attention_weights (Tensor): (bs, num_queries, num_heads, L, P).
        im2col_step (int): mmcv's CUDA batching step; ignored.

    Returns:
        Tensor: (bs, num_queries, num_heads * head_dim).
    """
    from vision_sparse.ops.ms_deform_attn import ms_deform_attn

    with torch.no_grad():
        return ms_deform_attn(value, value_spatial_shapes, value_level_start_index,
                              sampling_locations, attention_weights)


def ms_deform_attn_backward(value: Tensor, value_spatial_shapes: Tensor,
                            value_level_start_index: Tensor, sampling_locations: Tensor,
                            attention_weights: Tensor, grad_output: Tensor, grad_value: Tensor,
                            grad_sampling_loc: Tensor, grad_attn_weight: Tensor,
                            im2col_step: int = 64) -> None:
    """mmcv ``ext_module.ms_deform_attn_backward``: adds the gradients w.r.t. value,
    sampling_locations and attention_weights into ``grad_value``,
    ``grad_sampling_loc`` and ``grad_attn_weight``; ``grad_output`` is
    (bs, num_queries, num_heads * head_dim), the other arguments as
    :func:`ms_deform_attn_forward`.
    """
    from vision_sparse.ops.ms_deform_attn import ms_deform_attn_grads

    grads = ms_deform_attn_grads(grad_output, value, value_spatial_shapes,
                                 value_level_start_index, sampling_locations, attention_weights)
    for dst, src in zip((grad_value, grad_sampling_loc, grad_attn_weight), grads):
        dst.add_(src.to(dst.dtype))


#: mmcv ``_ext`` function name -> the function that serves it.
_FLT_MIN = 1.1754943508222875e-38


def _focal_terms(input: Tensor, target: Tensor, weight: Tensor, alpha: float):
    """Sigmoid probabilities, the positive / negative masks and the per-row weight."""
    p = torch.sigmoid(input)
    cls = torch.arange(input.shape[1], device=input.device)
    pos = (target[:, None] == cls[None]).to(input.dtype)
    neg = 1 - pos
    w = weight[target].to(input.dtype)[:, None] if weight.numel() else None
    return p, pos * alpha, neg * (1 - alpha), w


def sigmoid_focal_loss_forward(input: Tensor, target: Tensor, weight: Tensor, output: Tensor,
                               gamma: float = 2.0, alpha: float = 0.25) -> None:
    """Per-element sigmoid focal loss of (N, C) logits into ``output``; ``target`` (N,)
    holds class indices, ``C`` meaning background; ``weight`` (C,) per-class or empty."""
    p, a_pos, a_neg, w = _focal_terms(input, target, weight, alpha)
    term_p = (1 - p).pow(gamma) * torch.log(p.clamp(min=_FLT_MIN))
    term_n = p.pow(gamma) * torch.log((1 - p).clamp(min=_FLT_MIN))
    loss = -a_pos * term_p - a_neg * term_n
    output.copy_(loss * w if w is not None else loss)


def sigmoid_focal_loss_backward(input: Tensor, target: Tensor, weight: Tensor,
                                grad_input: Tensor, gamma: float = 2.0,
                                alpha: float = 0.25) -> None:
    """d loss / d logits of :func:`sigmoid_focal_loss_forward` into ``grad_input``."""
    p, a_pos, a_neg, w = _focal_terms(input, target, weight, alpha)
    term_p = (1 - p).pow(gamma) * (1 - p - gamma * p * torch.log(p.clamp(min=_FLT_MIN)))
    term_n = p.pow(gamma) * (gamma * (1 - p) * torch.log((1 - p).clamp(min=_FLT_MIN)) - p)
    grad = -a_pos * term_p - a_neg * term_n
    grad_input.copy_(grad * w if w is not None else grad)


SERVED_OPS: Dict[str, Callable] = {
    'sigmoid_focal_loss_forward': sigmoid_focal_loss_forward,
    'sigmoid_focal_loss_backward': sigmoid_focal_loss_backward,
    'nms': nms,
    'roi_align_forward': roi_align_forward,
    'roi_align_backward': roi_align_backward,
    'box_iou_rotated': box_iou_rotated,
    'nms_rotated': nms_rotated,
    'roi_align_rotated_forward': roi_align_rotated_forward,
    'roi_align_rotated_backward': roi_align_rotated_backward,
    'ms_deform_attn_forward': ms_deform_attn_forward,
    'ms_deform_attn_backward': ms_deform_attn_backward,
}

__all__ = ['SERVED_OPS', 'sigmoid_focal_loss_forward', 'sigmoid_focal_loss_backward', 'nms', 'roi_align_forward', 'roi_align_backward',
           'box_iou_rotated', 'nms_rotated', 'roi_align_rotated_forward',
           'roi_align_rotated_backward', 'ms_deform_attn_forward', 'ms_deform_attn_backward']
