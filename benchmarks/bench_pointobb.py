"""Benchmark of PointOBB (issue 11), one section per measured part.

Sections (``--sections``, default all):

``op``
    Rotated RoIAlign, compiled kernel vs the pure-PyTorch reference, forward +
    backward: 2,000 rotated rois pooled to 256 ch x 7 x 7 from a 4-level FPN
    (strides 4 / 8 / 16 / 32, 256 channels) of one 1024 x 1024 image, float32.
    Rois are realistic oriented boxes (centres in the image, sqrt(area) 16 to
    512 px log-uniform, aspect ratios 1 to 6, le90 angles) assigned to levels
    by size as mmdet's ``SingleRoIExtractor`` does (``floor(log2(sqrt(w h) / 56))``
    clamped to [0, 3]); mmrotate's roi_layer options (``sampling_ratio=2``,
    ``aligned=True``, ``clockwise=True``).  Prints the time of each and the
    largest |compiled - reference| over the pooled features and the feature
    gradients.

``pipeline``
    The method end to end on the synthetic aerial set (real objects of the shared
    ``oriented`` samples pasted onto real backgrounds; exact boxes): PointOBB trained
    from the points (``configs/pointobb/pointobb_xfeat-fpn_150it_synthetic-aerial.py``),
    its pseudo boxes for the training images scored against the true boxes (mean rotated
    IoU, median angle error of the non-round classes), then the same rotated FCOS
    (frozen XFeat + FPN) trained once on the pseudo boxes and once on the true boxes and
    tested on held-out images (DOTA mAP@0.5, VOC07): the ratio of the two mAPs (350
    detector iterations by default, ``--detector-iters 0`` for the config's 600). Prints
    PointOBB's training iterations per second.

``memory``
    Resident memory (RSS, after ``gc.collect()`` and glibc's ``malloc_trim``) of PointOBB
    training after 50 and
    after 500 iterations (the same config, one 128 x 128 image with 1-2 objects per
    iteration, the angle views from iteration 10).

Each section prints its numbers, then its ``TARGET`` lines.  Always exits 0.  On 2
cores: ``op`` 10-20 s, ``pipeline`` about 7.5 minutes, ``memory`` about 1.5 minutes.

Usage:
    python benchmarks/bench_pointobb.py [--sections op pipeline memory] [--n-rois 2000]
"""
import argparse
import math
import time
import traceback

import torch

from common import best_time, fmt_t, run_script, run_sections

NAN = float('nan')
STRIDES = (4, 8, 16, 32)
FINEST_SCALE = 56  # mmdet's SingleRoIExtractor default
POINTOBB_CONFIG = 'configs/pointobb/pointobb_xfeat-fpn_150it_synthetic-aerial.py'
DETECTOR_CONFIG = 'configs/pointobb/pointobb_rotated-fcos-xfeat_600it_synthetic-aerial.py'
PSEUDO_DETECTOR_CONFIG = 'configs/pointobb/pointobb_rotated-fcos-xfeat_600it_synthetic-aerial-pseudo.py'


def target(name, value, goal, ok, note=''):
    status = 'PASS' if (ok and not math.isnan(value)) else 'FAIL'
    shown = 'nan' if math.isnan(value) else f'{value:.3g}'
    line = f'TARGET {name} measured={shown} goal={goal} {status}'
    return line + (f'  # {note}' if note else '')


def ratio(a, b):
    return a / b if (b and not math.isnan(a) and not math.isnan(b)) else NAN


# --------------------------------------------------------------------------- op
def fpn_rois(n, generator, img=1024.0):
    """(n, 6) rotated rois (batch 0) over an img x img image and their FPN levels."""
    g = generator
    c = torch.rand(n, 2, generator=g, dtype=torch.float64) * img
    scale = torch.exp(torch.empty(n, dtype=torch.float64).uniform_(math.log(16), math.log(512),
                                                                    generator=g))
    aspect = 1 + torch.rand(n, generator=g, dtype=torch.float64) * 5
    w, h = scale * aspect.sqrt(), scale / aspect.sqrt()
    t = (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * math.pi
    rois = torch.stack([torch.zeros(n, dtype=torch.float64), c[:, 0], c[:, 1], w, h, t], 1)
    lvl = torch.floor(torch.log2(torch.sqrt(w * h) / FINEST_SCALE + 1e-6))
    return rois.float(), lvl.clamp(0, len(STRIDES) - 1).long()


def split_levels(rois, levels, grad):
    """Per level: the rois assigned to it and their slice of the output gradient."""
    parts = []
    for i in range(len(STRIDES)):
        idx = torch.nonzero(levels == i).squeeze(1)
        parts.append((rois[idx].contiguous(), grad[idx].contiguous()))
    return parts


def pool_levels(fn, feats, parts, ratio_):
    """Forward and backward of every level (as an RoI extractor calls the op);
    returns the pooled features and the feature gradient of every level."""
    outs, grads = [], []
    for feat, s, (rois, grad) in zip(feats, STRIDES, parts):
        x = feat.detach().requires_grad_(True)
        out = fn(x, rois, 7, 1.0 / s, ratio_, True, True)
        out.backward(grad)
        outs.append(out.detach())
        grads.append(x.grad if x.grad is not None else torch.zeros_like(x))
    return outs, grads


def section_op(args):
    """Compiled vs reference rotated RoIAlign; returns the TARGET lines."""
    res = dict(comp=NAN, ref=NAN, diff_out=NAN, diff_grad=NAN)
    try:
        from vision_sparse.ops import has_ext, roi_align_rotated, roi_align_rotated_reference
        if not has_ext():
            print('vision_sparse._C is not built (run `make ops` or '
                  '`python setup.py build_ext --inplace`): nothing to compare.')
        else:
            g = torch.Generator().manual_seed(args.seed)
            feats = [torch.randn(1, args.channels, 1024 // s, 1024 // s, generator=g)
                     for s in STRIDES]
            rois, levels = fpn_rois(args.n_rois, g)
            grad = torch.randn(args.n_rois, args.channels, 7, 7, generator=g)
            counts = [int((levels == i).sum()) for i in range(len(STRIDES))]
            print(f'{args.n_rois} rois x {args.channels} ch x 7 x 7, rois per level '
                  f'(strides {STRIDES}): {counts}, sampling_ratio={args.sampling_ratio}')
            parts = split_levels(rois, levels, grad)
            pool_levels(roi_align_rotated, feats, split_levels(rois[:8], levels[:8], grad[:8]),
                        args.sampling_ratio)  # warm-up (library load)
            (out_c, grads_c), res['comp'] = best_time(
                lambda: pool_levels(roi_align_rotated, feats, parts, args.sampling_ratio),
                args.repeat)
            if not args.skip_reference:
                (out_r, grads_r), res['ref'] = best_time(
                    lambda: pool_levels(roi_align_rotated_reference, feats, parts,
                                        args.sampling_ratio), 1)
                res['diff_out'] = max((a - b).abs().max().item() for a, b in zip(out_c, out_r))
                res['diff_grad'] = max((a - b).abs().max().item()
                                       for a, b in zip(grads_c, grads_r))
    except Exception:  # report, never fail
        traceback.print_exc()
    speedup = ratio(res['ref'], res['comp'])
    diff = max(res['diff_out'], res['diff_grad'])
    print()
    print(f'{"rotated RoIAlign fwd + bwd":<34}{"compiled":>14}{"reference":>14}{"ref/comp":>10}')
    print(f'{f"{args.n_rois} rois, 4-level FPN":<34}{fmt_t(res["comp"]):>14}'
          f'{fmt_t(res["ref"]):>14}{speedup:>10.1f}')
    print(f'max |compiled - reference|: pooled {res["diff_out"]:.3g}, '
          f'feature gradients {res["diff_grad"]:.3g}')
    print()
    return [target('roi_align_rotated_speedup', speedup, '>=10', speedup >= 10),
            target('roi_align_rotated_max_abs_diff', diff, '<=1e-4', diff <= 1e-4)]


# --------------------------------------------------------------------- pipeline
def rss_mb():
    """Resident memory of this process, MiB."""
    try:
        import psutil
        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # Linux fallback
        import os
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def trim_heap():
    """Give the C heap's free pages back to the OS (glibc ``malloc_trim``), so that RSS
    counts live memory, not what the allocator keeps cached; no-op elsewhere."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def set_iters(cfg, iters=None):
    """Train ``iters`` iterations (default the config's), no validation, one checkpoint."""
    iters = iters or cfg.train_cfg.max_iters
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters + 1  # the benchmark evaluates itself
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    for sch in cfg.get('param_scheduler') or []:
        if sch.get('end', 0) > iters:
            sch['end'] = iters
        if 'T_max' in sch:
            sch['T_max'] = max(1, sch['end'] - sch.get('begin', 0))
        if sch.get('begin', 0) >= iters:
            sch['begin'] = max(0, iters - 1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=iters, by_epoch=False,
                                        max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=max(1, iters // 10))
    cfg.log_processor = dict(by_epoch=False)


def train(cfg_path, work_dir, iters, options=None, memory_at=()):
    """Train a config in this process; returns (model, seconds, {iteration: RSS MiB})."""
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.runner import Runner
    cfg = Config.fromfile(cfg_path)
    if options:
        cfg.merge_from_dict(options)
    set_iters(cfg, iters)
    cfg.work_dir = work_dir
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    memory = {}

    class MemoryHook(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter + 1 in memory_at:
                import gc
                gc.collect()
                trim_heap()
                memory[runner.iter + 1] = rss_mb()

    runner = Runner.from_cfg(cfg)
    runner.register_hook(MemoryHook(), priority='LOWEST')
    t0 = time.perf_counter()
    runner.train()
    return runner.model, time.perf_counter() - t0, memory, cfg


def evaluate_detector(model, cfg):
    """DOTA mAP@0.5 (VOC07) of ``model`` on the config's test set."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope
    from vision_sparse.evaluation.metrics import DOTAMetric
    from vision_sparse.registry import DATASETS
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        ds = DATASETS.build(cfg.test_dataloader.dataset)
    metric = DOTAMetric(iou_thr=0.5, use_07_metric=True)
    metric.dataset_meta = ds.metainfo
    model.eval()
    for i in range(len(ds)):
        batch = pseudo_collate([ds[i]])
        with torch.no_grad():
            metric.process(batch, model.test_step(batch))
    return metric.compute_metrics(metric.results)['mAP']


def section_pipeline(args):
    """PointOBB -> pseudo boxes -> rotated FCOS on pseudo vs on true boxes; memory."""
    import os.path as osp
    import tempfile
    res = dict(miou=NAN, angle=NAN, map_pseudo=NAN, map_truth=NAN, its=NAN)
    try:
        from mmengine.registry import DefaultScope
        from vision_sparse.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        from vision_sparse.apis.pseudo_labels import build_pseudo_dataset, write_pseudo_labels
        tmp = tempfile.mkdtemp(prefix='bench_pointobb_')
        options = {'train_dataloader.dataset.data_root': args.data_root,
                   'val_dataloader.dataset.data_root': args.data_root,
                   'test_dataloader.dataset.data_root': args.data_root}
        model, secs, _, cfg = train(args.pointobb_config, osp.join(tmp, 'pointobb'),
                                    args.pointobb_iters, options)
        iters = cfg.train_cfg.max_iters
        res['its'] = iters / secs
        print(f'PointOBB: {iters} iterations in {secs:.0f} s ({res["its"]:.2f} it/s)')
        with DefaultScope.overwrite_default_scope('vision_sparse'):
            dataset = build_pseudo_dataset(cfg, 'train')
        pseudo_dir = osp.join(tmp, 'pseudo')
        summary = write_pseudo_labels(model, dataset, pseudo_dir)
        res['miou'], res['angle'] = summary.get('mIoU', NAN), summary.get('angle_err_deg', NAN)
        print(f'pseudo boxes of {summary["num_images"]} training images: mIoU '
              f'{res["miou"]:.3f}, median angle error {res["angle"]:.1f} deg')
        if not args.skip_detector:
            det_opts = {'train_dataloader.dataset.data_root': args.data_root,
                        'test_dataloader.dataset.data_root': args.data_root,
                        'val_dataloader.dataset.data_root': args.data_root}
            model_t, secs_t, _, cfg_t = train(args.detector_config, osp.join(tmp, 'det_truth'),
                                              args.detector_iters, det_opts)
            res['map_truth'] = evaluate_detector(model_t, cfg_t)
            det_opts['train_dataloader.dataset.data_root'] = pseudo_dir
            model_p, secs_p, _, cfg_p = train(args.pseudo_detector_config,
                                              osp.join(tmp, 'det_pseudo'), args.detector_iters,
                                              det_opts)
            res['map_pseudo'] = evaluate_detector(model_p, cfg_p)
            print(f'rotated FCOS, {cfg_t.train_cfg.max_iters} iterations: on true boxes mAP '
                  f'{res["map_truth"]:.3f} ({secs_t:.0f} s), on pseudo boxes mAP '
                  f'{res["map_pseudo"]:.3f} ({secs_p:.0f} s)')
    except Exception:  # report, never fail
        traceback.print_exc()
    ratio_ = ratio(res['map_pseudo'], res['map_truth'])
    print(f'PointOBB training speed: {res["its"]:.2f} it/s on CPU '
          f'({torch.get_num_threads()} threads)')
    return [target('pseudo_box_miou', res['miou'], '>=0.6', res['miou'] >= 0.6),
            target('pseudo_angle_err_deg', res['angle'], '<=10', res['angle'] <= 10),
            target('pseudo_to_full_map_ratio', ratio_, '>=0.6', ratio_ >= 0.6)]


def section_memory(args):
    """Resident memory of PointOBB training after 50 and after 500 iterations."""
    import tempfile
    growth, mem_at = NAN, (50, 500)
    try:
        from vision_sparse.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        small = dict(data_root=args.data_root, img_size=(128, 128), num_objects=(1, 2),
                     metainfo=dict(classes=('plane', 'ship', 'small-vehicle', 'large-vehicle',
                                            'storage-tank')))
        # the angle views (phase 2, more memory per iteration) start before the first
        # measurement, so both measure the same kind of iteration
        options = {'train_dataloader.dataset': small, 'train_dataloader.batch_size': 1,
                   'model.roi_head.bbox_head.num_classes': 5,
                   'model.view_schedule.angle_start_iter': 10}
        _, secs, memory, _ = train(args.pointobb_config, tempfile.mkdtemp(prefix='bench_mem_'),
                                   mem_at[1], options, mem_at)
        print(f'PointOBB, 128 x 128 images: {mem_at[1]} iterations in {secs:.0f} s; '
              f'RSS (MiB) {memory}')
        if len(memory) == 2 and memory[mem_at[0]] > 0:
            growth = 100.0 * (memory[mem_at[1]] - memory[mem_at[0]]) / memory[mem_at[0]]
    except Exception:  # report, never fail
        traceback.print_exc()
    return [target('memory_growth_50_to_500_pct', growth, '<5',
                   abs(growth) < 5 if not math.isnan(growth) else False,
                   f'RSS after {mem_at[0]} vs {mem_at[1]} PointOBB training iterations')]


#: section name -> (function(args) -> TARGET lines, one-line description)
SECTIONS = {
    'op': (section_op, 'rotated RoIAlign: compiled vs reference, forward + backward'),
    'pipeline': (section_pipeline, 'PointOBB on the synthetic aerial set -> pseudo boxes -> '
                 'rotated FCOS on pseudo vs true boxes'),
    'memory': (section_memory, 'PointOBB training memory after 50 and 500 iterations'),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--sections', nargs='+', default=list(SECTIONS), choices=list(SECTIONS),
                    help='sections to run (default: all)')
    ap.add_argument('--n-rois', type=int, default=2000, help='op: rotated rois')
    ap.add_argument('--channels', type=int, default=256, help='op: FPN channels')
    ap.add_argument('--sampling-ratio', type=int, default=2, help='op: samples per bin side')
    ap.add_argument('--repeat', type=int, default=3, help='runs of the compiled path (best)')
    ap.add_argument('--skip-reference', action='store_true', help='op: compiled only')
    ap.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--data-root', default='../shared/data/oriented',
                    help='pipeline: the oriented sample folder')
    ap.add_argument('--pointobb-config', default=POINTOBB_CONFIG, help='pipeline: PointOBB config')
    ap.add_argument('--pointobb-iters', type=int, default=None,
                    help="pipeline: PointOBB iterations (default: the config's)")
    ap.add_argument('--detector-config', default=DETECTOR_CONFIG,
                    help='pipeline: oriented detector on the true boxes')
    ap.add_argument('--pseudo-detector-config', default=PSEUDO_DETECTOR_CONFIG,
                    help='pipeline: the same detector on the pseudo boxes')
    ap.add_argument("--detector-iters", type=int, default=350,
                    help="pipeline: detector iterations, both detectors (350 keeps the whole "
                         "benchmark under 10 minutes on 2 cores; 0: the config's 600)")
    ap.add_argument('--skip-detector', action='store_true', help='pipeline: pseudo boxes only')
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        from vision_sparse.ops import ext_status
        print(ext_status())
    except Exception:
        traceback.print_exc()
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
    run_sections(SECTIONS, args.sections, args)
    return 0


if __name__ == '__main__':
    run_script(main)
