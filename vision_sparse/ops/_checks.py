"""Input checks shared by the ops (every path: compiled CPU / CUDA and reference)."""
import torch
from torch import Tensor

__all__ = ['all_finite']


def all_finite(t: Tensor) -> bool:
    """Whether ``t`` has no NaN / inf, in about the time of one ``t.sum()``.

    A finite sum proves that every element is finite (a NaN or inf element makes
    the sum NaN or inf); only when the sum is not finite (a bad element, or an
    overflow of large finite values) is ``torch.isfinite(t).all()`` evaluated.
    Integer and bool tensors are always finite.
    """
    if t.numel() == 0 or not (t.is_floating_point() or t.is_complex()):
        return True
    t = t.detach()
    if bool(torch.isfinite(t.sum())):
        return True
    return bool(torch.isfinite(t).all())
