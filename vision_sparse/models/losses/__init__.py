"""Losses."""
from .angle_consistency_loss import (AngleConsistencyLoss, angle_consistency_delta,
                                     wrap_half_pi)
from .correspondence_loss import (CorrespondenceLoss, correspondence_loss,
                                  match_accuracy, matches_from_grid)

__all__ = [
    'AngleConsistencyLoss', 'angle_consistency_delta', 'wrap_half_pi',
    'CorrespondenceLoss', 'correspondence_loss', 'match_accuracy',
    'matches_from_grid'
]
