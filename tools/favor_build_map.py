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

from mmengine.config import DictAction

from vision_sparse.apis import build_landmark_map, load_config


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
    model_cfg = load_config(args.config, args.cfg_options).get('model') or {}
    out = args.out or model_cfg.get('map_path')
    t0 = time.time()
    lmap = build_landmark_map(args.config, map_file=out, data_root=args.data,
                              max_frames=args.max_frames or None, cfg_options=args.cfg_options,
                              show_progress=not args.no_progress,
                              log=print)
    size = os.path.getsize(out) / 1024 ** 2
    print(f'[favor] {len(lmap)} landmarks, {lmap.memory_per_landmark_kb():.2f} KiB per landmark, '
          f'median PSNR {float(lmap.psnr.median()):.2f} dB, built in {time.time() - t0:.1f}s')
    print(f'[favor] saved {out} ({size:.2f} MiB)')
    return lmap


if __name__ == '__main__':
    main()
