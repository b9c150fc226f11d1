"""Phase-shifting coder (PSC) of box angles.

An angle ``theta`` of a rotated box is periodic in ``pi`` (a box turned by half a
turn is the same box), so it is coded as a phase ``2 * theta`` sampled by
``num_step`` phase-shifted cosines::

    code_k = cos(2 * theta + 2 * pi * k / num_step),   k = 0 .. num_step - 1

which is continuous in ``theta`` everywhere (no jump at the range boundary, the
"boundary problem" of regressing the angle directly). Decoding recovers the phase
by least squares (the projection onto the sine and cosine of the shifts)::

    phase = atan2(-sum_k code_k sin(2 pi k / N), sum_k code_k cos(2 pi k / N))
    theta = phase / 2   in [-pi/2, pi/2)  ('le90')

PointOBB's angle branch and our rotated FCOS head predict these codes.
"""
import math

import torch
from torch import Tensor

from vision_sparse.registry import TASK_UTILS

__all__ = ['PSCCoder']


@TASK_UTILS.register_module()
class PSCCoder:
    """Encode angles (radians) to ``num_step`` phase-shifted cosines and back.

    Args:
        num_step (int): number of phase shifts N (>= 3; 3 in PointOBB).

    Attributes:
        encode_size (int): length of a code (= ``num_step``).
    """

    def __init__(self, num_step: int = 3):
        if isinstance(num_step, bool) or not isinstance(num_step, int) or num_step < 3:
            raise ValueError(f'num_step must be an int >= 3, got {num_step!r}')
        self.num_step = num_step
        self.encode_size = num_step
        self._shifts = [2 * math.pi * k / num_step for k in range(num_step)]

    def _coef(self, ref: Tensor):
        shifts = torch.tensor(self._shifts, dtype=ref.dtype, device=ref.device)
        return torch.cos(shifts), torch.sin(shifts)

    def encode(self, angles: Tensor) -> Tensor:
        """Angles (...,) or (..., 1) in radians -> codes (..., N) in [-1, 1]."""
        if not isinstance(angles, Tensor) or not angles.is_floating_point():
            raise ValueError('angles must be a floating-point tensor')
        if angles.dim() and angles.shape[-1] == 1:
            angles = angles[..., 0]
        shifts = torch.tensor(self._shifts, dtype=angles.dtype, device=angles.device)
        return torch.cos(2 * angles[..., None] + shifts)

    def decode(self, codes: Tensor, keepdim: bool = False) -> Tensor:
        """Codes (..., N) -> angles (...,) (or (..., 1) with ``keepdim``) in [-pi/2, pi/2).

        Any scaling of a code decodes to the same angle; an all-zero code decodes to 0.
        """
        if not isinstance(codes, Tensor) or codes.dim() == 0 or codes.shape[-1] != self.num_step:
            shape = tuple(codes.shape) if isinstance(codes, Tensor) else type(codes).__name__
            raise ValueError(f'codes must be a (..., {self.num_step}) tensor, got {shape}')
        cos, sin = self._coef(codes)
        c = (codes * cos).sum(-1)
        s = (codes * sin).sum(-1)
        phase = torch.atan2(-s, c)  # (-pi, pi]
        angles = phase / 2
        angles = torch.where(angles >= math.pi / 2, angles - math.pi, angles)
        return angles[..., None] if keepdim else angles

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_step={self.num_step})'
