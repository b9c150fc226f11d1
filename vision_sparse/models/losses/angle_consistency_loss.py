"""Angle self-supervision across two views of the same objects (PointOBB).

An object seen in the original view with angle ``theta_ori`` is seen in a
second view with a known angle:

* rotated view (the image content turned by ``phi`` about the image centre,
  +x toward +y): ``theta_view = theta_ori + phi``;
* flipped view (vertical or horizontal mirror): ``theta_view = -theta_ori``.

So the predicted angles of a pair should give a zero *residual*::

    rotate: delta = theta_view - theta_ori - phi
    flip:   delta = theta_view + theta_ori

taken modulo ``pi`` (box angles are ``pi``-periodic) into ``[-pi/2, pi/2)``
and pushed toward 0 with a SmoothL1 (Huber) penalty. Gradients reach both
views' predictions (the loss is symmetric, as in the official PointOBB code).
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vision_sparse.registry import MODELS
from vision_sparse.utils.checks import check_choice

__all__ = ['AngleConsistencyLoss', 'angle_consistency_delta', 'wrap_half_pi']

REDUCTIONS = ('mean', 'sum', 'none')


def wrap_half_pi(angles: Tensor) -> Tensor:
    """Angles (radians, any shape) wrapped modulo ``pi`` into ``[-pi/2, pi/2)``.

    Differentiable (gradient 1 away from the jump at ``pi/2``).
    """
    return torch.remainder(angles + math.pi / 2, math.pi) - math.pi / 2


def angle_consistency_delta(theta_ori: Tensor, theta_view: Tensor, phi: Tensor,
                            flip: Tensor) -> Tensor:
    """Wrapped residual of paired angles.

    Args:
        theta_ori (Tensor): (N,) angles in the original view, radians.
        theta_view (Tensor): (N,) angles of the same objects in the second view.
        phi (Tensor): (N,) rotation of the second view, radians (ignored where
            ``flip``).
        flip (Tensor): (N,) bool, True where the second view is a mirror image.

    Returns:
        Tensor: (N,) ``delta`` in ``[-pi/2, pi/2)``: ``theta_view + theta_ori``
        where ``flip``, else ``theta_view - theta_ori - phi``.

    Raises:
        ValueError: if the inputs are not four tensors of the same (N,) shape.
    """
    for name, t in (('theta_ori', theta_ori), ('theta_view', theta_view), ('phi', phi),
                    ('flip', flip)):
        if not isinstance(t, Tensor) or t.dim() != 1 or t.shape != theta_ori.shape:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f'{name} must be a (N,) tensor like theta_ori '
                             f'{tuple(theta_ori.shape)}, got {shape}')
    phi = phi.to(theta_ori)
    delta = torch.where(flip.bool(), theta_view + theta_ori, theta_view - theta_ori - phi)
    return wrap_half_pi(delta)


@MODELS.register_module()
class AngleConsistencyLoss(nn.Module):
    """SmoothL1 of the wrapped angle residual between two views (see the module doc).

    Args:
        beta (float): SmoothL1 transition point, radians (0.1 in PointOBB).
        loss_weight (float): multiplier of the loss.
        reduction (str): ``'mean'`` over pairs with a non-zero weight (0 when
            there are none), ``'sum'`` or ``'none'`` ((N,) per pair).
    """

    def __init__(self, beta: float = 0.1, loss_weight: float = 1.0, reduction: str = 'mean'):
        super().__init__()
        if not beta > 0:
            raise ValueError(f'beta must be > 0, got {beta!r}')
        check_choice('reduction', reduction, REDUCTIONS)
        self.beta = float(beta)
        self.loss_weight = float(loss_weight)
        self.reduction = reduction

    def forward(self, theta_ori: Tensor, theta_view: Tensor, phi: Tensor, flip: Tensor,
                weight: Optional[Tensor] = None) -> Tensor:
        """Loss of N pairs.

        Args:
            theta_ori (Tensor): (N,) angles in the original view, radians.
            theta_view (Tensor): (N,) angles of the same objects in the second view.
            phi (Tensor): (N,) rotation of the second view, radians.
            flip (Tensor): (N,) bool, True where the second view is flipped.
            weight (Tensor, optional): (N,) per-pair weights (0 = skip the pair).

        Returns:
            Tensor: scalar (``'mean'``, ``'sum'``) or (N,) (``'none'``).
        """
        delta = angle_consistency_delta(theta_ori, theta_view, phi, flip)
        loss = F.smooth_l1_loss(delta, torch.zeros_like(delta), beta=self.beta,
                                reduction='none')
        if weight is not None:
            if weight.shape != loss.shape:
                raise ValueError(f'weight must have shape {tuple(loss.shape)}, '
                                 f'got {tuple(weight.shape)}')
            loss = loss * weight.to(loss)
        if self.reduction == 'sum':
            loss = loss.sum()
        elif self.reduction == 'mean':
            count = (weight != 0).sum() if weight is not None else loss.numel()
            loss = loss.sum() / max(float(count), 1.0)
        return self.loss_weight * loss
