#!/usr/bin/env python
"""Write PointOBB's pseudo oriented boxes for a dataset as DOTA txt, and score them.

For every image of the config's training set (its annotated points, no random
augmentation) the trained PointOBB model predicts one oriented box per point. The
boxes are written as a DOTA folder that an oriented detector config trains on:

    OUT/labelTxt/<img_id>.txt     x1 y1 ... x4 y4 class difficult (one line per point)
    OUT/images/<img_id>.png       only for datasets without image files (rendered ones,
                                  e.g. SyntheticAerialDataset), or with --copy-images
    OUT/pseudo_label_summary.json quality against the true boxes, when those are known

and, when the true boxes are known, the quality is printed: mean rotated IoU and the
angle error of the non-rotation-agnostic classes (:class:`PseudoBoxMetric`).

Examples::

    python tools/pointobb_pseudo_labels.py configs/pointobb/pointobb_xfeat-fpn_150it_synthetic-aerial.py \\
        work_dirs/pointobb_xfeat-fpn_150it_synthetic-aerial/iter_150.pth \\
        --out work_dirs/pointobb_pseudo/synthetic-aerial
    python tools/pointobb_pseudo_labels.py CONFIG CKPT --out OUT --split test --show-dir OUT/vis
"""
import argparse
import json
import sys

from mmengine.config import DictAction

__all__ = ['parse_args', 'main']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='PointOBB pseudo oriented boxes -> DOTA txt')
    parser.add_argument('config', help='a configs/pointobb PointOBB config')
    parser.add_argument('checkpoint', help='trained PointOBB weights (tools/train.py)')
    parser.add_argument('--out', required=True, help='output DOTA folder')
    parser.add_argument('--split', choices=['train', 'val', 'test'], default='train',
                        help="which dataloader's dataset to label (default: train)")
    parser.add_argument('--copy-images', action='store_true',
                        help='also copy image files into OUT/images (rendered images are '
                        'always written)')
    parser.add_argument('--show-dir', help='draw the first --show images (pseudo boxes, true '
                        'boxes dashed grey, points) into this folder')
    parser.add_argument('--show', type=int, default=8, help='how many images to draw')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config overrides, e.g. train_dataloader.dataset.num_images=8')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from vision_sparse.apis.base import BaseInferencer, load_config
    from vision_sparse.apis.pseudo_labels import build_pseudo_dataset, write_pseudo_labels
    cfg = load_config(args.config, args.cfg_options)
    model = BaseInferencer(cfg, args.checkpoint, args.device).model
    dataset = build_pseudo_dataset(cfg, args.split)
    summary = write_pseudo_labels(model, dataset, args.out, args.copy_images, args.show_dir,
                                  args.show)
    print(json.dumps({k: v for k, v in summary.items() if not k.startswith('IoU_')}, indent=2))
    print(f'pseudo labels written to {args.out}/labelTxt')
    return 0


if __name__ == '__main__':
    sys.exit(main())
