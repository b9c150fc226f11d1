"""Pseudo oriented boxes of a PointOBB model for a whole dataset, written as DOTA txt.

The library side of ``tools/pointobb_pseudo_labels.py`` (also used by
``benchmarks/bench_pointobb.py``): one box per annotated point of every image, written as a
DOTA folder an oriented-detector config trains on, scored against the true boxes when those
are known (:class:`~vision_sparse.evaluation.metrics.PseudoBoxMetric`).
"""
import json
import os
import os.path as osp
import shutil
from typing import Dict, Optional

import numpy as np
import torch

__all__ = ['build_pseudo_dataset', 'write_pseudo_labels']


def build_pseudo_dataset(cfg, split: str = 'train'):
    """The ``split`` dataset with the test pipeline (no random augmentation).

    Raises:
        ValueError: the config has no such dataloader.
    """
    import copy
    from mmengine.registry import DefaultScope
    from vision_sparse.registry import DATASETS
    loader = cfg.get(f'{split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise ValueError(f'the config has no {split}_dataloader.dataset')
    ds_cfg = copy.deepcopy(loader['dataset'])
    ds_cfg = ds_cfg.to_dict() if hasattr(ds_cfg, 'to_dict') else dict(ds_cfg)
    test_ds = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    pipeline = cfg.get('test_pipeline') or test_ds.get('pipeline')
    if pipeline is not None:
        ds_cfg['pipeline'] = copy.deepcopy(list(pipeline))
    ds_cfg['test_mode'] = False  # keep the filtering of the training set
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'vision_sparse')):
        return DATASETS.build(ds_cfg)


def _image_bgr(inputs: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(inputs.permute(1, 2, 0).cpu().numpy().astype(np.uint8))


def write_pseudo_labels(model, dataset, out_dir: str, copy_images: bool = False,
                        show_dir: Optional[str] = None, show: int = 8) -> Dict:
    """Predict, write ``out_dir`` (see the module docstring) and score.

    Returns:
        dict: ``num_images``, ``num_boxes``, ``skipped`` and, when true boxes are known,
        the :class:`PseudoBoxMetric` results (``mIoU``, ``angle_err_deg``, ...).
    """
    import cv2
    from mmengine.dataset import pseudo_collate
    from mmengine.utils import ProgressBar
    from vision_sparse.datasets.formats.dota import write_dota_txt
    from vision_sparse.evaluation.metrics.pseudo_box_metric import PseudoBoxMetric
    from vision_sparse.structures.bbox import rbox2poly
    classes = list(dataset.metainfo['classes'])
    metric = PseudoBoxMetric(
        angle_agnostic_classes=list(dataset.metainfo.get('angle_agnostic_classes', ())),
        classes=classes)
    metric.dataset_meta = dataset.metainfo
    os.makedirs(osp.join(out_dir, 'labelTxt'), exist_ok=True)
    n_boxes, skipped, drawn = 0, [], 0
    bar = ProgressBar(len(dataset))
    model.eval()
    for idx in range(len(dataset)):
        data = dataset[idx]
        bar.update()
        if data is None:
            skipped.append(idx)
            continue
        batch = pseudo_collate([data])
        with torch.no_grad():
            sample = model.test_step(batch)[0]
        meta = sample.metainfo
        img_id = str(meta.get('img_id', idx))
        pred = sample.pred_instances
        boxes = pred.bboxes.tensor if hasattr(pred.bboxes, 'tensor') else pred.bboxes
        boxes = boxes.detach().cpu().double().numpy().reshape(-1, 5)
        labels = pred.labels.cpu().numpy().reshape(-1)
        good = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)  # points the model could not use
        write_dota_txt(osp.join(out_dir, 'labelTxt', img_id + '.txt'), rbox2poly(boxes[good]),
                       [classes[int(i)] for i in labels[good]])
        n_boxes += int(good.sum())
        img_path = meta.get('img_path', '')
        dst = osp.join(out_dir, 'images', img_id + '.png')
        if not (img_path and osp.isfile(img_path)):
            os.makedirs(osp.dirname(dst), exist_ok=True)
            cv2.imwrite(dst, _image_bgr(data['inputs']))
        elif copy_images:
            dst = osp.join(out_dir, 'images', img_id + osp.splitext(img_path)[1])
            os.makedirs(osp.dirname(dst), exist_ok=True)
            shutil.copyfile(img_path, dst)
        if 'bboxes' in sample.gt_instances:
            metric.process(batch, [sample])
        if show_dir and drawn < show:
            _draw(show_dir, img_id, data, sample, boxes, labels, classes)
            drawn += 1
    print()
    summary = dict(num_images=len(dataset) - len(skipped), num_boxes=n_boxes, skipped=skipped)
    if metric.results:
        summary.update(metric.compute_metrics(metric.results))
    with open(osp.join(out_dir, 'pseudo_label_summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    return summary


def _draw(show_dir, img_id, data, sample, boxes, labels, classes) -> None:
    import cv2
    from vision_sparse.visualization import draw_rotated_boxes, save_image
    rgb = _image_bgr(data['inputs'])[..., ::-1].copy()
    gt = sample.gt_instances
    if 'bboxes' in gt:
        gtb = gt.bboxes.tensor if hasattr(gt.bboxes, 'tensor') else gt.bboxes
        rgb = draw_rotated_boxes(rgb, gtb.cpu().numpy(), color=(160, 160, 160), thickness=1,
                                 show_heading=False)
    rgb = draw_rotated_boxes(rgb, boxes, labels=labels, class_names=classes)
    for x, y in gt.points.cpu().numpy().reshape(-1, 2):
        cv2.circle(rgb, (int(round(x)), int(round(y))), 3, (255, 255, 255), -1)
    save_image(osp.join(show_dir, img_id + '.png'), rgb)
