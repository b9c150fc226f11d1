"""Box and angle coders."""
from .psc_coder import PSCCoder

__all__ = ['PSCCoder']
