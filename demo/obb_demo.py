"""PointOBB: oriented boxes from one point per object, on the oriented samples.

Writes to ``--out``:

* ``samples.png``       the real DOTA, DOTA-patch (labels made at 1024 px, rescaled by the
  loader) and DIOR-R samples as our datasets load them: true oriented boxes (heading line
  at the ``+w/2`` end) and the one point per object the model is trained with;
* ``tiles.png``         the 1111 x 1182 DOTA image P0706 cut into tiles as
  ``tools/dota_split.py`` does (here 512 px, gap 128), with the objects each tile keeps;
* ``synthetic.png``     two images of the synthetic aerial set (real objects pasted onto
  real backgrounds, exact boxes; storage tanks are round and have no orientation);
* ``pseudo_boxes.png``  pseudo boxes of a PointOBB model for the points of synthetic
  training images (true boxes in grey): with ``--checkpoint`` the trained model's, else a
  model trained here for ``--train-iters`` iterations (a short run: rough boxes; the
  config's full schedule is ``python tools/train.py CONFIG``);
* ``obb.png``           with ``IMAGE --points x,y[,class] ...`` and ``--checkpoint``: the
  boxes predicted for those points in that image.

Usage::

    python demo/obb_demo.py [IMAGE --points 410,300,ship ...] [--config CFG]
        [--checkpoint CKPT] [--train-iters N] [--out DIR]
"""
import argparse
import os.path as osp
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vision_sparse.testing.data import shared_data_path
from vision_sparse.utils import register_all_modules
from vision_sparse.visualization import draw_rotated_boxes, make_grid, put_text_block, save_image

DEFAULT_CONFIG = 'configs/pointobb/pointobb_xfeat-fpn_150it_synthetic-aerial.py'
GREY = (170, 170, 170)


def _dot(img, pts, radius=3):
    import cv2
    for x, y in np.asarray(pts, np.float64).reshape(-1, 2):
        cv2.circle(img, (int(round(x)), int(round(y))), radius, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(img, (int(round(x)), int(round(y))), radius, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def _instances(info):
    boxes = np.array([i['bbox'] for i in info['instances']], np.float64).reshape(-1, 5)
    labels = np.array([i['bbox_label'] for i in info['instances']], np.int64)
    points = np.array([i['point'] for i in info['instances']], np.float64).reshape(-1, 2)
    return boxes, labels, points


def _fit(img, long_side=560):
    """``img`` resized so that its long side is ``long_side`` pixels."""
    import cv2
    s = long_side / max(img.shape[:2])
    return cv2.resize(img, None, fx=s, fy=s,
                      interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def draw_samples(root: Path, out: Path) -> None:
    """samples.png: the real samples with their boxes and points, as the datasets load them."""
    import cv2
    from mmengine.registry import DefaultScope
    from vision_sparse.registry import DATASETS
    panels = []
    specs = [('DOTA P1888', dict(type='DOTADataset', data_root=str(root / 'dota'))),
             ('DOTA patch (labels at 1024 px, ann_image_size=1024)',
              dict(type='DOTADataset', data_root=str(root / 'dota_patch'), ann_image_size=1024)),
             ('DIOR-R 00001', dict(type='DIORDataset', data_root=str(root / 'dior')))]
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        for title, cfg in specs:
            ds = DATASETS.build(dict(cfg, pipeline=[]))
            idx = next((i for i in range(len(ds)) if 'P0706' not in ds.get_data_info(i)['img_path']), 0)
            info = ds.get_data_info(idx)
            img = cv2.cvtColor(cv2.imread(info['img_path']), cv2.COLOR_BGR2RGB)
            boxes, labels, points = _instances(info)
            scale = 560 / max(img.shape[:2])  # draw at the picture's size
            img = _fit(img, 560)
            boxes[:, :4] *= scale
            points *= scale
            classes = ds.metainfo['classes']
            img = draw_rotated_boxes(img, boxes, labels=labels, class_names=classes, thickness=1)
            img = _dot(img, points, 2)
            img = put_text_block(img, [title, f'{len(boxes)} objects: boxes + annotated points'])
            panels.append(img)
    save_image(out / 'samples.png', make_grid(panels, ncols=3))


def draw_tiles(root: Path, out: Path, tile: int = 512, gap: int = 128) -> None:
    """tiles.png: P0706 and its tiles (each tile's kept objects in its colour)."""
    import cv2
    from vision_sparse.datasets.formats import load_dota_txt
    from vision_sparse.datasets.oriented.tiling import split_image
    from vision_sparse.structures.bbox import poly2rbox
    img = cv2.cvtColor(cv2.imread(str(root / 'dota' / 'images' / 'P0706.png')), cv2.COLOR_BGR2RGB)
    ann = load_dota_txt(root / 'dota' / 'labelTxt' / 'P0706.txt')
    polys = np.asarray(ann['polys'], np.float64).reshape(-1, 8)
    tiles = split_image(img, polys, tile=tile, gap=gap)
    canvas = (img * 0.7).astype(np.uint8)
    palette = [(255, 80, 80), (80, 220, 80), (80, 140, 255), (255, 210, 60), (220, 80, 220),
               (60, 220, 220)]
    for k, t in enumerate(tiles):
        x, y = int(t['x']), int(t['y'])
        color = palette[k % len(palette)]
        cv2.rectangle(canvas, (x + 2 * k, y + 2 * k), (x + tile - 1 - 2 * k, y + tile - 1 - 2 * k),
                      color, 2)
        if len(t['polys']):
            boxes = np.asarray(poly2rbox(np.asarray(t['polys'], np.float64)), np.float64)
            boxes[:, 0] += x
            boxes[:, 1] += y
            canvas = draw_rotated_boxes(canvas, boxes, color=color, thickness=1,
                                        show_heading=False)
    canvas = _fit(canvas, 900)
    canvas = put_text_block(canvas, [f'P0706 ({img.shape[1]}x{img.shape[0]}, {len(polys)} objects) -> '
                            f'{len(tiles)} tiles of {tile} px, gap {gap}',
                            'objects >= 70 % inside a tile are kept by it (cut ones: difficult)'])
    save_image(out / 'tiles.png', canvas)


def _dataset(cfg, key='train_dataloader', **overrides):
    from mmengine.registry import DefaultScope
    from vision_sparse.registry import DATASETS
    ds_cfg = cfg[key]['dataset'].to_dict() if hasattr(cfg[key]['dataset'], 'to_dict') \
        else dict(cfg[key]['dataset'])
    ds_cfg.update(overrides)
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        return DATASETS.build(ds_cfg)


def draw_synthetic(cfg, out: Path) -> None:
    """synthetic.png: two synthetic aerial training images with boxes and points."""
    ds = _dataset(cfg, pipeline=[])
    panels = []
    for i in range(2):
        data = ds[i]
        img = data['img'][..., ::-1].copy()
        boxes, labels, points = _instances(ds.get_data_info(i))
        img = draw_rotated_boxes(img, boxes, labels=labels, class_names=ds.metainfo['classes'],
                                 thickness=1)
        panels.append(put_text_block(_dot(img, points),
                                     [f'synthetic aerial #{i}: {len(boxes)} objects']))
    save_image(out / 'synthetic.png', make_grid(panels, ncols=2))


def train_quickly(cfg_path: str, iters: int, data_root: str):
    """Train the config for ``iters`` iterations here; returns the model."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(cfg_path)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key]['dataset']['data_root'] = data_root
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters + 1
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None  # evaluated separately
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.model.view_schedule = dict(cfg.model.get('view_schedule') or {},
                                   angle_start_iter=iters // 3,
                                   rotated_bags_start_iter=(2 * iters) // 3)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=iters + 1, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=max(1, iters // 5))
    cfg.log_processor = dict(by_epoch=False)
    cfg.work_dir = tempfile.mkdtemp(prefix='obb_demo_')
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner.model, cfg


def draw_pseudo_boxes(model, cfg, out: Path, n: int = 4) -> None:
    """pseudo_boxes.png: pseudo boxes (colour) vs true boxes (grey) of training images."""
    from mmengine.dataset import pseudo_collate
    from vision_sparse.evaluation.metrics.pseudo_box_metric import PseudoBoxMetric
    test_pipeline = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline
    ds = _dataset(cfg, pipeline=test_pipeline, num_images=n)
    metric = PseudoBoxMetric(
        angle_agnostic_classes=list(ds.metainfo.get('angle_agnostic_classes', ())))
    metric.dataset_meta = ds.metainfo
    panels = []
    model.eval()
    for i in range(n):
        batch = pseudo_collate([ds[i]])
        with torch.no_grad():
            sample = model.test_step(batch)[0]
        metric.process(batch, [sample])
        img = batch['inputs'][0].permute(1, 2, 0).numpy()[..., ::-1].copy()
        gt = sample.gt_instances
        img = draw_rotated_boxes(img, gt.bboxes.tensor.numpy(), color=GREY, thickness=1,
                                 show_heading=False)
        pred = sample.pred_instances
        img = draw_rotated_boxes(img, pred.bboxes.tensor.numpy(), labels=pred.labels.numpy(),
                                 class_names=ds.metainfo['classes'])
        panels.append(_dot(img, gt.points.numpy()))
    res = metric.compute_metrics(metric.results)
    grid = make_grid(panels, ncols=2)
    grid = put_text_block(grid, [f'PointOBB pseudo boxes (colour) vs truth (grey), {n} training images',
                          f"mean IoU {res['mIoU']:.3f}, median angle error "
                          f"{res['angle_err_deg']:.1f} deg (non-round classes)"])
    save_image(out / 'pseudo_boxes.png', grid)
    print(f"pseudo boxes: mean IoU {res['mIoU']:.3f}, median angle error "
          f"{res['angle_err_deg']:.1f} deg over {res['num_objects']} objects")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('image', nargs='?', help='an image to draw boxes for --points in')
    parser.add_argument('--points', nargs='*', metavar='X,Y[,CLASS]', help='one point per object')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='a PointOBB config')
    parser.add_argument('--checkpoint', help='trained PointOBB weights')
    parser.add_argument('--train-iters', type=int, default=150,
                        help='without --checkpoint: train this many iterations here first')
    parser.add_argument('--data-root', default=None,
                        help='the oriented sample folder (default: the shared data)')
    parser.add_argument('--out', default='work_dirs/demo/obb')
    args = parser.parse_args()
    out = Path(args.out)
    register_all_modules(init_default_scope=False)
    root = Path(args.data_root) if args.data_root else shared_data_path('oriented')
    t0 = time.time()
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    if root is not None:
        draw_samples(root, out)
        draw_tiles(root, out)
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[key]['dataset']['data_root'] = str(root)
        draw_synthetic(cfg, out)
    else:
        print('the oriented sample data is not there ($VISION_SPARSE_DATA): sample pictures skipped')
    if args.checkpoint:
        from vision_sparse.apis import OBBInferencer
        inferencer = OBBInferencer(cfg, args.checkpoint)
        model = inferencer.model
        if args.image:
            from vision_sparse.apis.obb import parse_points
            res = inferencer(args.image, points=args.points)
            pts = parse_points(args.points, classes=inferencer.classes)[0] if args.points else None
            save_image(out / 'obb.png', inferencer.draw(res, args.image, points=pts))
            print(f"{res['num_boxes']} boxes for {len(args.points or [])} points -> {out / 'obb.png'}")
    elif root is not None:
        if args.image:
            print('IMAGE needs --checkpoint (trained weights); drawing synthetic pseudo boxes instead')
        model, cfg = train_quickly(args.config, args.train_iters, str(root))
    else:
        model = None
    if model is not None and root is not None:
        draw_pseudo_boxes(model, cfg, out)
    print(f'done in {time.time() - t0:.0f} s; pictures in {out}')


if __name__ == '__main__':
    main()
