"""Areas from Segment Anything's automatic mask generator (the paper's source)."""
import os.path as osp
from typing import Optional

import numpy as np
import torch

from vision_sparse.registry import MODELS
from vision_sparse.structures.areas import AreaSet

from .base import BaseAreaSource

__all__ = ['SAMAreaSource']

SAM_TYPES = ('vit_h', 'vit_l', 'vit_b')


@MODELS.register_module()
class SAMAreaSource(BaseAreaSource):
    """SAM automatic masks -> cleaned areas.

    Nothing is downloaded: give the path of an official SAM checkpoint
    (``sam_vit_h_4b8939.pth`` etc.). The model is loaded on the first call.

    Args:
        checkpoint (str): path of the SAM ``.pth`` state dict. Required unless
            ``sam_model`` is given.
        model_type (str): ``'vit_h'``, ``'vit_l'`` or ``'vit_b'``; must match
            the checkpoint.
        sam_model (torch.nn.Module, optional): an already built
            ``segment_anything.modeling.Sam`` (tests use a tiny random one).
        device (str): torch device for SAM (``'cuda'`` on a GPU machine).
        points_per_side (int): prompt grid of the mask generator (paper: 32).
        pred_iou_thresh, stability_score_thresh, box_nms_thresh (float):
            segment_anything mask-generator filters.
        min_mask_region_area (int): segment_anything hole/island removal, px.
        max_side (int): working resolution (paper: 640x480 images).
        clean (dict): cleaning options, see :class:`BaseAreaSource`.
        keep_masks (bool): return masks.

    Raises:
        ValueError: without ``checkpoint`` and ``sam_model``, or for an unknown
            ``model_type`` / a checkpoint that does not fit it.
        FileNotFoundError: if ``checkpoint`` does not exist.
    """

    default_conf = dict(BaseAreaSource.default_conf, checkpoint=None, model_type='vit_h',
                        sam_model=None, device='cpu', points_per_side=32, points_per_batch=64,
                        pred_iou_thresh=0.88, stability_score_thresh=0.95, box_nms_thresh=0.7,
                        min_mask_region_area=0)

    def __init__(self, **conf):
        super().__init__(**conf)
        c = self.conf
        if c['model_type'] not in SAM_TYPES:
            raise ValueError(f'model_type must be one of {SAM_TYPES}, '
                             f"got {c['model_type']!r}")
        if c['sam_model'] is None:
            if not c['checkpoint']:
                raise ValueError(
                    'SAMAreaSource needs checkpoint=<path to a SAM .pth file> '
                    '(e.g. sam_vit_h_4b8939.pth from the segment-anything '
                    'release); weights are never downloaded. Without SAM use '
                    "SegmentationAreaSource or MaskFileAreaSource.")
            if not osp.isfile(c['checkpoint']):
                raise FileNotFoundError(
                    f"SAM checkpoint not found: {c['checkpoint']}")
        self._generator = None

    def _build_generator(self):
        from segment_anything import SamAutomaticMaskGenerator, sam_model_registry
        c = self.conf
        model = c['sam_model']
        if model is None:
            model = sam_model_registry[c['model_type']](checkpoint=None)
            state = torch.load(c['checkpoint'], map_location='cpu',
                               weights_only=True)
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as err:
                raise ValueError(
                    f"checkpoint {c['checkpoint']} does not fit SAM "
                    f"model_type={c['model_type']!r}: {str(err)[:300]}") from err
        model = model.to(c['device']).eval()
        self._generator = SamAutomaticMaskGenerator(
            model,
            points_per_side=c['points_per_side'],
            points_per_batch=c['points_per_batch'],
            pred_iou_thresh=c['pred_iou_thresh'],
            stability_score_thresh=c['stability_score_thresh'],
            box_nms_thresh=c['box_nms_thresh'],
            min_mask_region_area=c['min_mask_region_area'],
            output_mode='binary_mask')

    def segment(self, image: np.ndarray, name: Optional[str] = None) -> AreaSet:
        if self._generator is None:
            self._build_generator()
        with torch.inference_mode():
            records = self._generator.generate(image)
        records = sorted(records, key=lambda r: -float(r.get('area', 0)))
        return AreaSet.from_sam_records(records, image.shape[:2])
