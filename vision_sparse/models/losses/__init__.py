"""Losses."""
from .correspondence_loss import (CorrespondenceLoss, correspondence_loss,
                                  match_accuracy, matches_from_grid)

__all__ = [
    'CorrespondenceLoss', 'correspondence_loss', 'match_accuracy',
    'matches_from_grid'
]
