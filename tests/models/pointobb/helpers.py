"""Tiny PointOBB models and synthetic images with bright rotated rectangles."""
import math

import cv2
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from vision_sparse.structures.bbox.rotated_boxes import RotatedBoxes, rbox2poly

NUM_CLASSES = 3


def tiny_model_cfg(angle_head=None, num_stages=2, view_schedule=None, fpn_channels=16,
                   fc_channels=64, num_neg=32, **kwargs):
    """A ResNet-18 + FPN(16 ch) PointOBB for 128 px images (no pretrained weights)."""
    return dict(
        type='PointOBB',
        data_preprocessor=dict(type='mmdet.DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='mmdet.ResNet', depth=18, num_stages=4, out_indices=(0, 1, 2, 3),
                      frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True),
                      norm_eval=False, style='pytorch', init_cfg=None),
        neck=dict(type='mmdet.FPN', in_channels=[64, 128, 256, 512], out_channels=fpn_channels,
                  start_level=0, add_extra_convs='on_input', num_outs=4),
        roi_head=dict(
            type='PointOBBRoIHead',
            bbox_roi_extractor=dict(
                type='RotatedSingleRoIExtractor',
                roi_layer=dict(type='RoIAlignRotated', output_size=7, sampling_ratio=2, clockwise=True),
                out_channels=fpn_channels, featmap_strides=[4, 8, 16, 32]),
            bbox_head=dict(type='MILBBoxHead', num_classes=NUM_CLASSES, in_channels=fpn_channels,
                           fc_out_channels=fc_channels, num_stages=num_stages, init_std=None),
            bag_generator=dict(type='PointBagGenerator'),
            num_neg=num_neg),
        angle_head=angle_head,
        view_schedule=view_schedule,
        **kwargs)


def draw_sample(rng, size=128, num_objects=3, img_id=0):
    """(3, H, W) uint8 image with bright rotated rectangles on a dark noisy background
    and its DetDataSample (points = box centres + small jitter, labels by aspect)."""
    img = (rng.random((size, size, 3)) * 40).astype(np.uint8)
    boxes, labels = [], []
    for _ in range(num_objects):
        lab = int(rng.integers(0, NUM_CLASSES))
        long_side = rng.uniform(18, 40)
        aspect = (1.0, 2.0, 3.5)[lab]
        w, h = long_side, long_side / aspect
        cx, cy = rng.uniform(25, size - 25, size=2)
        theta = rng.uniform(-math.pi / 2, math.pi / 2)
        box = np.array([cx, cy, w, h, theta], dtype=np.float32)
        poly = rbox2poly(torch.from_numpy(box[None])).numpy().reshape(4, 2)
        colour = (200, 200, 200) if lab == 0 else ((60, 220, 220) if lab == 1 else (220, 80, 220))
        cv2.fillPoly(img, [np.round(poly).astype(np.int32)], colour)
        boxes.append(box)
        labels.append(lab)
    boxes = np.stack(boxes)
    points = boxes[:, :2] + rng.uniform(-1.5, 1.5, size=(len(boxes), 2)).astype(np.float32)
    ds = DetDataSample(metainfo=dict(img_id=img_id, img_path=f'synthetic_{img_id}.png',
                                     img_shape=(size, size), ori_shape=(size, size),
                                     scale_factor=(1.0, 1.0)))
    gt = InstanceData()
    gt.bboxes = RotatedBoxes(torch.from_numpy(boxes))
    gt.labels = torch.tensor(labels, dtype=torch.long)
    gt.points = torch.from_numpy(points.astype(np.float32))
    ds.gt_instances = gt
    return torch.from_numpy(img).permute(2, 0, 1).contiguous(), ds


def make_batch(seed=0, batch=2, size=128, num_objects=3):
    """A data batch dict (``inputs``, ``data_samples``) as a DataLoader would give it."""
    rng = np.random.default_rng(seed)
    items = [draw_sample(rng, size, num_objects, img_id=seed * 100 + i) for i in range(batch)]
    return dict(inputs=[i for i, _ in items], data_samples=[d for _, d in items])
