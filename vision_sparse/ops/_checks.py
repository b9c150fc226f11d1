"""Input checks shared by the ops (every path: compiled CPU / CUDA and reference)."""
import math
import numbers

import torch
from torch import Tensor

__all__ = ['all_finite', 'finite_number']


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


def finite_number(value, name: str, minimum=None) -> float:
    """``value`` as a float: a real number or one-element tensor, finite, and
    ``>= minimum`` when given; ValueError naming ``name`` otherwise (strings and
    bools are refused, not converted)."""
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_complex():
        out = float(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        out = float(value)
    else:
        out = math.nan
    if not math.isfinite(out) or (minimum is not None and out < minimum):
        bound = '' if minimum is None else f' >= {minimum}'
        raise ValueError(f'{name} must be a finite number{bound}, got {value!r}')
    return out
