#!/usr/bin/env python
"""Build a FaVoR landmark map from a posed RGB(-D) sequence.

tracking -> triangulation -> batched per-landmark voxel training, with progress
bars, saved to one file (plain tensors + metadata: descriptor size, feature
type, rendering constants, retrieval database).

Examples::

    python tools/favor_build_map.py configs/favor/favor_xfeat-g3_100it_synthetic.py
    python tools/favor_build_map.py configs/favor/favor_aliked-g3_100it_7scenes-stairs.py \\
        --data ../shared/data/relocalization/7scenes_stairs/stairs --out work_dirs/stairs_map.pth
    python tools/favor_build_map.py CONFIG --cfg-options model.mapping.trainer.iterations=100

The config's ``model.mapping`` gives the dataset (its training split) and the
options of every stage; ``model.extractor`` the features; ``--out`` defaults to
``model.map_path``.
"""
import argparse
import os
import os.path as osp
import time

from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope

from vision_sparse.utils import register_all_modules


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Build a FaVoR landmark map')
    parser.add_argument('config', help='a configs/favor/*.py config')
    parser.add_argument('--data', help='scene folder (overrides mapping.dataset.data_root)')
    parser.add_argument('--out', help='output map file (default: model.map_path)')
    parser.add_argument('--max-frames', type=int, help='use at most this many mapping frames')
    parser.add_argument('--no-progress', action='store_true', help='hide progress bars')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.mapping.trainer.iterations=100')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config} does not exist')
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model_cfg = cfg.get('model', {})
    mapping = model_cfg.get('mapping')
    if not mapping or 'dataset' not in mapping:
        raise ValueError(f'{args.config} has no model.mapping.dataset: nothing to build a map from')
    mapping = mapping.to_dict() if hasattr(mapping, 'to_dict') else dict(mapping)
    dataset_cfg = dict(mapping.pop('dataset'))
    if args.data:
        if not osp.isdir(args.data):
            raise FileNotFoundError(f'--data {args.data} is not a folder')
        dataset_cfg['data_root'] = args.data
    if args.max_frames:
        dataset_cfg['max_frames'] = args.max_frames
    dataset_cfg['lazy_init'] = False
    out = args.out or model_cfg.get('map_path')
    if not out:
        raise ValueError('no output file: pass --out or set model.map_path in the config')
    show = not args.no_progress
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'vision_sparse')):
        from vision_sparse.models.relocalizers import build_landmark_map
        from vision_sparse.registry import DATASETS, MODELS
        dataset = DATASETS.build(dataset_cfg)
        extractor = MODELS.build(model_cfg.get('extractor', dict(type='DenseFeatureExtractor')))
        print(f'[favor] building a map from {len(dataset)} frames '
              f'({dataset_cfg.get("format")}, {dataset_cfg.get("split")} split) with '
              f'{extractor.feature_type} ({extractor.descriptor_dim}-d)')
        t0 = time.time()
        lmap = build_landmark_map(dataset.frames(), extractor, num_frames=len(dataset),
                                  show_progress=show, **mapping)
    lmap.save(out)
    size = os.path.getsize(out) / 1024 ** 2
    print(f'[favor] {len(lmap)} landmarks, {lmap.memory_per_landmark_kb():.2f} KiB per landmark, '
          f'median PSNR {float(lmap.psnr.median()):.2f} dB, built in {time.time() - t0:.1f}s')
    print(f'[favor] saved {out} ({size:.2f} MiB)')
    return lmap


if __name__ == '__main__':
    main()
