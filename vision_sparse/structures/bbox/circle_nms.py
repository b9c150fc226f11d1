"""Circle NMS: suppression by BEV centre distance (CenterPoint), pure PyTorch."""
import torch
from torch import Tensor

__all__ = ['circle_nms', 'batched_circle_nms']


def circle_nms(centers: Tensor, scores: Tensor, radius: float,
               max_keep: int = -1) -> Tensor:
    """Greedy NMS: a box is dropped when a kept, higher-scoring box's BEV centre lies
    within ``radius`` (distance ``<= radius``).

    Args:
        centers (Tensor): (N, >= 2) BEV centres ``(x, y, ...)``, metres.
        scores (Tensor): (N,) scores; ties keep the lower index.
        radius (float): suppression distance, metres, >= 0.
        max_keep (int): keep at most this many (-1: all).

    Returns:
        Tensor: (k,) int64 indices of the kept boxes, by decreasing score.
    """
    if centers.dim() != 2 or centers.shape[1] < 2 or scores.shape != centers.shape[:1]:
        raise ValueError('centers must be (N, >=2) and scores (N,), got '
                         f'{tuple(centers.shape)} and {tuple(scores.shape)}')
    if not radius >= 0:
        raise ValueError(f'radius must be >= 0, got {radius!r}')
    order = torch.sort(scores, descending=True, stable=True).indices
    xy = centers[order, :2]
    near = (torch.cdist(xy.double(), xy.double()) <= radius).cpu()
    keep = torch.ones(order.numel(), dtype=torch.bool)
    for i in range(order.numel()):  # greedy: only kept boxes suppress
        if keep[i]:
            keep[i + 1:] &= ~near[i, i + 1:]
    kept = order[keep.to(centers.device)]
    return kept[:max_keep] if max_keep >= 0 else kept


def batched_circle_nms(centers: Tensor, scores: Tensor, labels: Tensor, radius,
                       max_keep: int = -1) -> Tensor:
    """Circle NMS within each class.

    Args:
        centers (Tensor): (N, >= 2) BEV centres, metres.
        scores (Tensor): (N,) scores.
        labels (Tensor): (N,) int64 classes.
        radius (float | Sequence[float]): one distance for all classes or one per
            class (indexed by label); a class with a radius < 0 is not suppressed.
        max_keep (int): per-class cap (-1: none).

    Returns:
        Tensor: (k,) int64 kept indices, by decreasing score over all classes.
    """
    if labels.shape != scores.shape:
        raise ValueError(f'labels must be (N,) like scores, got {tuple(labels.shape)}')
    keep = []
    for cls in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == cls).flatten()
        r = radius if isinstance(radius, (int, float)) else radius[cls]
        if r < 0:
            if max_keep >= 0:
                idx = idx[scores[idx].argsort(descending=True)[:max_keep]]
            keep.append(idx)
            continue
        keep.append(idx[circle_nms(centers[idx], scores[idx], float(r), max_keep)])
    if not keep:
        return torch.zeros(0, dtype=torch.long, device=centers.device)
    keep = torch.cat(keep)
    return keep[torch.sort(scores[keep], descending=True, stable=True).indices]
