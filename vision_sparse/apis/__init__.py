"""One inferencer per method: built from a config (file or dict) and an optional
checkpoint, called on plain inputs (image files or numpy arrays), returning one
result dict that follows :mod:`vision_sparse.structures.results` (``success``,
``reason``, ``timings`` plus the method's documented outputs), in the spirit of
mmdet's ``init_detector`` / ``inference_detector``.

* :class:`MatchInferencer`: ``MatchInferencer(cfg)(img0, img1, K0=None, K1=None)``
  for the point matcher and A2PM configs (``configs/matcher``, ``configs/a2pm``):
  matches, and the relative pose when intrinsics are given.
* :class:`RelocInferencer`: ``RelocInferencer(cfg, map_file)(query_img, K)`` for
  the FaVoR configs (``configs/favor``): the camera pose in a saved landmark map
  (build one with :func:`build_landmark_map(cfg, map_file, progress=...) <build_landmark_map>`).
* :class:`AttentionInferencer`: ``AttentionInferencer(cfg, checkpoint)(src_img, tgt_img)``
  for the FramePainter configs (``configs/framepainter``): the source token that
  every target token's matching attention peaks on (train the config first;
  without a checkpoint the attention is untrained and warns).
* :class:`OBBInferencer`: ``OBBInferencer(cfg, checkpoint)(image, points=['x,y,class', ...])``
  for the PointOBB configs (``configs/pointobb``): one oriented box per annotated point
  (PointOBB) or every box an oriented detector (rotated FCOS) finds.
* :class:`FusionInferencer`: ``FusionInferencer(cfg, checkpoint)(sample)`` or
  ``(points=..., images={cam: img}, lidar2img=...)`` for the SparseFusion configs
  (``configs/sparsefusion``): 3-D boxes from a LiDAR sweep and/or the camera views, as the
  config's modality (lidar / camera / fusion) says; :func:`train_fusion_quickly` trains a
  tiny config for a few CPU minutes (or seconds) in-process and returns its inferencer.

From the shell: ``python -m vision_sparse.apis {match,reloc,attention,obb,fusion} --help``
(or ``tools/infer.py``) prints a JSON summary and can draw the result.
"""
from .attention import AttentionInferencer
from .base import BaseInferencer, load_config, load_image
from .fusion import FusionInferencer, train_fusion_quickly
from .match import MatchInferencer
from .obb import OBBInferencer
from .reloc import RelocInferencer, build_landmark_map

__all__ = ['BaseInferencer', 'MatchInferencer', 'RelocInferencer', 'AttentionInferencer', 'OBBInferencer',
           'FusionInferencer', 'train_fusion_quickly', 'build_landmark_map', 'load_config',
           'load_image']
