"""Prior generators: proposal bags around points (PointOBB)."""
from .point_bags import PointBagGenerator, inside_fraction

__all__ = ['PointBagGenerator', 'inside_fraction']
