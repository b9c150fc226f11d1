#!/usr/bin/env python
"""Foundation demo: typed geometry, rotated-box ops and the drawing helpers on real data.

Writes under ``--out`` (default ``work_dirs/demo/geometry``):

* ``dota_rotated_nms.png``: a DOTA image with its ground-truth oriented boxes (green)
  and the detections kept by class-aware rotated NMS from noisy duplicates (colour per
  class); printed: how many duplicates NMS removed and the mean IoU of kept boxes.
* ``nuscenes_cameras.png``: the 69 LiDAR-frame boxes of the nuScenes keyframe
  projected into the six cameras; ``nuscenes_bev.png``: LiDAR points and boxes from above.
* ``kitti_boxes.png``: KITTI camera-frame boxes projected into the image.

Without ``../shared/data`` it runs on synthetic boxes and a synthetic LiDAR scene.
"""
import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from vision_sparse.datasets.formats import load_det3d_info, load_dota_txt, load_points
from vision_sparse.ops import batched_nms_rotated, box_iou_rotated, ext_status
from vision_sparse.structures.bbox import LiDARBoxes3D
from vision_sparse.testing import jittered_detections, random_rotated_boxes
from vision_sparse.testing import synthetic_lidar_scene
from vision_sparse.testing.data import shared_data_root
from vision_sparse.visualization import (draw_bev, draw_boxes3d_on_image, draw_rotated_boxes,
                                         make_grid, put_text_block, save_image)


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'cannot read image {path}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def rotated_nms_demo(data: Path, out: Path) -> None:
    if data is not None and (data / 'oriented/dota/labelTxt/P1888.txt').is_file():
        ann = load_dota_txt(data / 'oriented/dota/labelTxt/P1888.txt')
        img = read_rgb(data / 'oriented/dota/images/P1888.png')
        gt = torch.as_tensor(ann['rboxes'], dtype=torch.float32)
        names = sorted(set(ann['labels']))
        labels = torch.tensor([names.index(n) for n in ann['labels']])
        source = 'DOTA P1888'
    else:
        img = np.full((768, 1024, 3), 40, np.uint8)
        gt = random_rotated_boxes(40, (1024, 768), (20, 80), seed=1)
        names = ['object']
        labels = torch.zeros(len(gt), dtype=torch.long)
        source = 'synthetic boxes'
    det = jittered_detections(gt, copies=6, jitter=0.06, seed=0)
    det_labels = labels[det['gt_index']]
    t0 = time.perf_counter()
    keep = batched_nms_rotated(det['boxes'], det['scores'], det_labels, 0.3)
    dt = time.perf_counter() - t0
    kept = det['boxes'][keep]
    iou = box_iou_rotated(kept, gt).max(dim=1).values if len(kept) else torch.zeros(0)
    canvas = draw_rotated_boxes(img, gt, color=(0, 255, 0), thickness=1, show_heading=False)
    canvas = draw_rotated_boxes(canvas, kept, labels=det_labels[keep], class_names=names,
                                thickness=1)
    text = [f'{source}: {len(gt)} objects, {len(det["boxes"])} noisy detections',
            f'rotated NMS (IoU 0.3, class-aware) kept {len(keep)} in {dt * 1e3:.1f} ms',
            f'mean IoU of kept boxes with ground truth: {iou.mean():.3f}',
            'green: ground truth; colour: kept detections']
    canvas = put_text_block(canvas, text)
    print(f'  {text[1]}; {text[2]}')
    print(f'  wrote {save_image(out / "dota_rotated_nms.png", canvas)}')


def nuscenes_demo(data: Path, out: Path) -> None:
    pkl = None if data is None else next((data / 'lidar_camera/nuscenes').glob('*.pkl'), None)
    if pkl is None:
        scene = synthetic_lidar_scene(seed=0)
        boxes = LiDARBoxes3D(torch.as_tensor(scene['boxes']))
        bev = draw_bev(scene['points'], boxes, range_m=(-45, -45, 45, 45))
        print(f'  wrote {save_image(out / "synthetic_bev.png", bev)}')
        return
    info = load_det3d_info(pkl)[0]
    points = load_points(info['lidar_path'], dim=info['num_pts_feats'] or 5)
    boxes, labels = info['gt_bboxes_3d'], info['gt_labels_3d']
    views = []
    order = ['CAM_FRONT_LEFT', 'CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_BACK_LEFT', 'CAM_BACK',
             'CAM_BACK_RIGHT']
    for name in order:
        cam = info['cameras'][name]
        img = draw_boxes3d_on_image(read_rgb(Path(cam['img_path'])), boxes, cam['cam2img'],
                                    cam['lidar2cam'], labels=labels,
                                    class_names=info['class_names'])
        views.append(put_text_block(cv2.resize(img, (800, 450)), name, font_scale=0.7))
    print(f'  wrote {save_image(out / "nuscenes_cameras.png", make_grid(views, ncols=3))}')
    inside = boxes.points_in_boxes(torch.as_tensor(points[:, :3], dtype=torch.float64))
    counts = inside.sum(0).numpy()
    agree = int((counts == info['num_lidar_pts']).sum())
    bev = draw_bev(points, boxes, labels=labels, class_names=info['class_names'],
                   forward_axis='y', show_text=False)
    bev = put_text_block(bev, [f'nuScenes keyframe: {len(points)} points, {len(boxes)} boxes',
                               f'points-in-box counts equal num_lidar_pts for {agree}/{len(boxes)}'])
    print(f'  points-in-box counts equal the annotation for {agree}/{len(boxes)} boxes')
    print(f'  wrote {save_image(out / "nuscenes_bev.png", bev)}')


def kitti_demo(data: Path, out: Path) -> None:
    pkl = None if data is None else data / 'lidar_camera/kitti/000008.pkl'
    if pkl is None or not pkl.is_file():
        return
    info = load_det3d_info(pkl)[0]
    cam = next(iter(info['cameras'].values()))
    keep = info['gt_labels_3d'] >= 0
    img = draw_boxes3d_on_image(read_rgb(data / 'lidar_camera/kitti/000008.png'),
                                info['gt_bboxes_3d'][torch.as_tensor(keep)], cam['cam2img'],
                                labels=info['gt_labels_3d'][keep],
                                class_names=info['class_names'])
    print(f'  wrote {save_image(out / "kitti_boxes.png", img)}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='work_dirs/demo/geometry', help='output folder')
    parser.add_argument('--data', default=None, help='sample data root (../shared/data)')
    args = parser.parse_args(argv)
    out = Path(args.out)
    data = Path(args.data) if args.data else shared_data_root()
    print(f'geometry demo ({ext_status()})')
    if data is None:
        print('  ../shared/data not found: using synthetic inputs')
    rotated_nms_demo(data, out)
    nuscenes_demo(data, out)
    kitti_demo(data, out)


if __name__ == '__main__':
    main()
