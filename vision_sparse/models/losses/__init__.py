"""Losses."""
from .angle_consistency_loss import (AngleConsistencyLoss, angle_consistency_delta,
                                     wrap_half_pi)
from .correspondence_loss import (CorrespondenceLoss, correspondence_loss,
                                  match_accuracy, matches_from_grid)
from .mil_loss import MILLoss, focal_bce, mil_instance_weights
from .ssc_loss import SSCLoss

__all__ = [
    'AngleConsistencyLoss', 'angle_consistency_delta', 'wrap_half_pi',
    'CorrespondenceLoss', 'correspondence_loss', 'match_accuracy',
    'matches_from_grid', 'MILLoss', 'focal_bce', 'mil_instance_weights', 'SSCLoss'
]
