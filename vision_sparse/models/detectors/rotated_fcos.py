"""Rotated FCOS: mmdet's one-stage detector that keeps rotated boxes typed."""
from mmdet.models.detectors import SingleStageDetector
from mmdet.structures import SampleList
from mmdet.utils import InstanceList
from torch import Tensor

from vision_sparse.registry import MODELS

__all__ = ['RotatedFCOS']


@MODELS.register_module()
class RotatedFCOS(SingleStageDetector):
    """Backbone + neck + :class:`RotatedFCOSHead`, as mmdet's ``FCOS``.

    Two differences from ``mmdet.FCOS`` (which also runs with the rotated head):

    * predictions keep ``pred_instances.bboxes`` as ``RotatedBoxes`` (mmdet turns
      every box type into a plain tensor when it adds predictions to the samples);
    * training refuses samples whose metainfo says ``has_gt_boxes=False`` (point
      labels only): train it on pseudo boxes or true boxes.

    Args: those of mmdet's ``SingleStageDetector`` (``backbone``, ``neck``,
    ``bbox_head``, ``train_cfg``, ``test_cfg``, ``data_preprocessor``,
    ``init_cfg``); give mmdet's parts with the ``mmdet.`` prefix from the
    ``vision_sparse`` scope.
    """

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> dict:
        """Losses of a batch (see :meth:`RotatedFCOSHead.loss_by_feat`).

        Raises:
            ValueError: if a sample has no boxes (``has_gt_boxes=False``).
        """
        for sample in batch_data_samples:
            has_boxes = sample.metainfo.get('has_gt_boxes', True)
            gt = sample.get('gt_instances')
            if gt is not None:
                has_boxes = has_boxes and gt.metainfo.get('has_gt_boxes', True)
            if not has_boxes:
                raise ValueError(f"sample {sample.metainfo.get('img_path', '?')} has no boxes "
                                 '(has_gt_boxes=False): the detector trains on true or pseudo '
                                 'boxes, not on points')
        return super().loss(batch_inputs, batch_data_samples)

    def add_pred_to_datasample(self, data_samples: SampleList,
                               results_list: InstanceList) -> SampleList:
        """Set ``pred_instances`` of each sample (boxes stay ``RotatedBoxes``)."""
        for sample, pred in zip(data_samples, results_list):
            sample.pred_instances = pred
        return data_samples
