#!/usr/bin/env python
"""Train a model from a config with mmengine's Runner.

Examples::

    python tools/train.py configs/toy/toy_linear-sgd_40it_synthetic.py --work-dir work_dirs/toy
    python tools/train.py CONFIG --resume                 # resume the latest checkpoint of work-dir
    python tools/train.py CONFIG --resume path/to/iter_20.pth
    python tools/train.py CONFIG --load-from pretrained.pth --non-strict   # fine-tune
    bash tools/dist_train.sh CONFIG 2                      # DDP (gloo on CPU, nccl on GPU)

Checkpoints are loaded by the safe loader (no pickled code runs; see
docs/security.md) and must match the model exactly unless ``--non-strict``.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from vision_sparse.utils import register_all_modules
from vision_sparse.utils.checkpoint import strict_checkpoint_hook
from vision_sparse.utils.dist import prepare_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a vision_sparse model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints are saved '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from a checkpoint path, or, without a value, from the '
                        'latest checkpoint in the work dir')
    parser.add_argument('--load-from', help='initial weights (no optimizer state / iteration '
                        'restored; for fine-tuning, usually with --non-strict)')
    parser.add_argument('--non-strict', action='store_true',
                        help='load a checkpoint whose keys or shapes differ from the model '
                        '(only the matching part; default: such a checkpoint is an error)')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_iters=10')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_cfg(args) -> Config:
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file {args.config} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.load_from is not None:
        if args.resume is not None:
            raise ValueError('pass either --resume or --load-from, not both')
        if '://' not in args.load_from and not osp.isfile(args.load_from):
            raise FileNotFoundError(f'--load-from checkpoint {args.load_from} does not exist')
        cfg.load_from = args.load_from
        cfg.resume = False
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume checkpoint {args.resume} does not exist')
        cfg.resume = True
        cfg.load_from = args.resume
    return prepare_distributed(cfg, args.launcher)


def main(argv=None):
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    cfg = build_cfg(args)
    runner = Runner.from_cfg(cfg)
    if not args.non_strict:
        runner.register_hook(strict_checkpoint_hook())
    runner.train()
    return runner


if __name__ == '__main__':
    main()
