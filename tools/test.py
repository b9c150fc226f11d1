#!/usr/bin/env python
"""Evaluate a model (optionally from a checkpoint) on a config's test set.

Example::

    python tools/test.py configs/toy/toy_linear-sgd_40it_synthetic.py work_dirs/toy/iter_40.pth

Methods without learned weights (e.g. training-free matchers) run without a
checkpoint: ``python tools/test.py CONFIG``.

The checkpoint is loaded by the safe loader (no pickled code runs; see
docs/security.md) and must match the model exactly: a checkpoint of another
model stops with an error listing the mismatched keys (``--non-strict`` loads
the matching part only).
"""
import argparse
import json
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from vision_sparse.utils import register_all_modules
from vision_sparse.utils.checkpoint import strict_checkpoint_hook
from vision_sparse.utils.dist import prepare_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a vision_sparse model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint file (optional for training-free methods)')
    parser.add_argument('--work-dir', help='where evaluation logs are saved')
    parser.add_argument('--out', help='also write the metrics to this JSON file')
    parser.add_argument('--non-strict', action='store_true',
                        help='load a checkpoint whose keys or shapes differ from the model '
                        '(only the matching part; default: such a checkpoint is an error)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config} does not exist')
    if args.checkpoint is not None and '://' not in args.checkpoint and \
            not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False
    prepare_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    if not args.non_strict:
        runner.register_hook(strict_checkpoint_hook())
    metrics = runner.test()
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump({k: float(v) if isinstance(v, (int, float)) else str(v)
                       for k, v in metrics.items()}, f, indent=2)
    return metrics


if __name__ == '__main__':
    main()
