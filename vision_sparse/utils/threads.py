"""Temporary torch CPU thread counts."""
import contextlib
from typing import Iterator, Optional

import torch

__all__ = ['torch_threads']


@contextlib.contextmanager
def torch_threads(num: Optional[int]) -> Iterator[None]:
    """Temporarily set ``torch.set_num_threads(num)``; None (or 0) leaves it as is."""
    if not num:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(num))
    try:
        yield
    finally:
        torch.set_num_threads(old)
