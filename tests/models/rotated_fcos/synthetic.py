"""Tiny synthetic oriented-detection data and a small rotated FCOS for the tests.

Images are dark noise with filled rotated rectangles: class 0 red, class 1 green
(BGR as mmcv loads images), random angles and aspect ratios, exact boxes.
"""
import math
from pathlib import Path
from typing import Optional, Tuple

import cv2
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from vision_sparse.registry import MODELS
from vision_sparse.structures.bbox.rotated_boxes import RotatedBoxes, rbox2corners

BASE_CONFIG = (Path(__file__).resolve().parents[3] / 'configs' / '_base_' / 'models'
               / 'rotated-fcos_r18_fpn.py')
COLOURS = ((40, 40, 230), (40, 220, 40))  # BGR: class 0 red, class 1 green


def make_image(rng: np.random.Generator, size: int = 128, num_objects: int = 4,
               min_len: float = 12.0, max_len: float = 56.0) -> Tuple[torch.Tensor, np.ndarray,
                                                                      np.ndarray]:
    """One image with non-overlapping rotated rectangles.

    Returns:
        tuple: uint8 (3, size, size) BGR image, boxes (K, 5) float32 le90 with
        ``w >= h`` (aspect 1.5-4), labels (K,) int64 in {0, 1}.
    """
    img = rng.integers(0, 50, (size, size, 3), dtype=np.uint8)
    occupied = np.zeros((size, size), np.uint8)
    boxes, labels = [], []
    for _ in range(200):
        if len(boxes) == num_objects:
            break
        w = rng.uniform(min_len, max_len)
        h = w / rng.uniform(1.5, 4.0)
        h = max(h, 6.0)
        theta = rng.uniform(-math.pi / 2, math.pi / 2)
        reach = 0.5 * math.hypot(w, h)
        cx, cy = rng.uniform(reach, size - reach, 2)
        box = np.array([cx, cy, w, h, theta], np.float32)
        poly = np.round(rbox2corners(box)).astype(np.int32)
        mask = np.zeros_like(occupied)
        cv2.fillPoly(mask, [poly], 1)
        grown = cv2.dilate(mask, np.ones((5, 5), np.uint8))
        if (grown & occupied).any():
            continue
        occupied |= mask
        label = int(rng.integers(0, 2))
        img[mask.astype(bool)] = COLOURS[label]
        boxes.append(box)
        labels.append(label)
    return (torch.from_numpy(img).permute(2, 0, 1).contiguous(),
            np.array(boxes, np.float32).reshape(-1, 5), np.array(labels, np.int64))


def make_sample(boxes: np.ndarray, labels: np.ndarray, size: int,
                img_id: int = 0) -> DetDataSample:
    """A DetDataSample with RotatedBoxes ground truth (data contract of issue 11)."""
    sample = DetDataSample(metainfo=dict(img_id=img_id, img_path=f'synthetic_{img_id}.png',
                                         img_shape=(size, size), ori_shape=(size, size),
                                         scale_factor=(1.0, 1.0)))
    sample.gt_instances = InstanceData(bboxes=RotatedBoxes(torch.from_numpy(boxes)),
                                       labels=torch.from_numpy(labels))
    sample.ignored_instances = InstanceData(bboxes=RotatedBoxes(torch.zeros(0, 5)),
                                            labels=torch.zeros(0, dtype=torch.long))
    return sample


def make_batch(seed: int, num_images: int = 2, size: int = 128, num_objects: int = 4) -> dict:
    """``dict(inputs=[...], data_samples=[...])`` of synthetic images."""
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for i in range(num_images):
        img, boxes, labels = make_image(rng, size, num_objects)
        inputs.append(img)
        samples.append(make_sample(boxes, labels, size, img_id=i))
    return dict(inputs=inputs, data_samples=samples)


def small_model_cfg(**head) -> dict:
    """The base config shrunk for CPU tests: 2 classes, ResNet-18 at 1/4 width,
    32-channel FPN and head, strides 8/16/32, objects up to ~60 px."""
    cfg = Config.fromfile(str(BASE_CONFIG)).model
    cfg.backbone.update(base_channels=16, frozen_stages=-1, norm_eval=False)
    cfg.neck.update(in_channels=[16, 32, 64, 128], out_channels=32, num_outs=3,
                    add_extra_convs=False)
    cfg.bbox_head.update(num_classes=2, in_channels=32, feat_channels=32, stacked_convs=2,
                         strides=[8, 16, 32], regress_ranges=((-1, 32), (32, 64), (64, 1e8)),
                         norm_cfg=dict(type='GN', num_groups=8, requires_grad=True))
    cfg.bbox_head.update(head)
    cfg.test_cfg.update(score_thr=0.05, nms_pre=500, max_per_img=100)
    return cfg.to_dict()


def build_model(seed: int = 0, cfg: Optional[dict] = None, **head):
    """Build (and init) the small rotated FCOS in the vision_sparse scope."""
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        model = MODELS.build(cfg or small_model_cfg(**head))
    model.init_weights()
    return model


def losses_sum(losses: dict) -> float:
    return float(sum(v.detach() for k, v in losses.items() if k.startswith('loss')))
