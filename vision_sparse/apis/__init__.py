"""One inferencer per method: built from a config (file or dict) and an optional
checkpoint, called on plain inputs (image files or numpy arrays), returning one
result dict that follows :mod:`vision_sparse.structures.results` (``success``,
``reason``, ``timings`` plus the method's documented outputs), in the spirit of
mmdet's ``init_detector`` / ``inference_detector``.

* :class:`MatchInferencer`: ``MatchInferencer(cfg)(img0, img1, K0=None, K1=None)``
  for the point matcher and A2PM configs (``configs/matcher``, ``configs/a2pm``):
  matches, and the relative pose when intrinsics are given.
* :class:`RelocInferencer`: ``RelocInferencer(cfg, map_file)(query_img, K)`` for
  the FaVoR configs (``configs/favor``): the camera pose in a saved landmark map.

From the shell: ``python -m vision_sparse.apis {match,reloc} --help`` (or
``tools/infer.py``) prints a JSON summary and can draw the result.

There is no inferencer for matching attention: it is a layer
(:class:`~vision_sparse.models.layers.MatchingAttention`) that other models put
inside their transformers, with no config, input files or result of its own.
"""
from .base import BaseInferencer, load_config, load_image
from .match import MatchInferencer
from .reloc import RelocInferencer

__all__ = ['BaseInferencer', 'MatchInferencer', 'RelocInferencer', 'load_config', 'load_image']
