"""Losses."""
from .correspondence_loss import (CorrespondenceLoss, correspondence_loss,
                                  match_accuracy, matches_from_grid)
from .mil_loss import MILLoss, focal_bce, mil_instance_weights
from .ssc_loss import SSCLoss

__all__ = [
    'CorrespondenceLoss', 'correspondence_loss', 'match_accuracy',
    'matches_from_grid', 'MILLoss', 'focal_bce', 'mil_instance_weights', 'SSCLoss'
]
