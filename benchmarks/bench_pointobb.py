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

Each section prints a table, then its ``TARGET`` lines.  Always exits 0.  The
``op`` section takes about 10-20 s on 2 cores (the reference ~3.5 s per run,
the compiled path ~0.2 s; measured with other jobs running).

Usage:
    python benchmarks/bench_pointobb.py [--sections op] [--n-rois 2000]
"""
import argparse
import math
import sys
import time
import traceback

import torch

NAN = float('nan')
STRIDES = (4, 8, 16, 32)
FINEST_SCALE = 56  # mmdet's SingleRoIExtractor default


def best_time(fn, repeat):
    out, best = None, float('inf')
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def fmt_t(t):
    return 'n/a' if t is None or math.isnan(t) else f'{t * 1e3:10.1f} ms'


def target(name, value, goal, ok, note=''):
    status = 'PASS' if (ok and not math.isnan(value)) else 'FAIL'
    shown = 'nan' if math.isnan(value) else (f'{value:.3g}' if 'diff' in name
                                             else f'{value:.1f}')
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


#: section name -> (function(args) -> TARGET lines, one-line description)
SECTIONS = {
    'op': (section_op, 'rotated RoIAlign: compiled vs reference, forward + backward'),
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
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        from vision_sparse.ops import ext_status
        print(ext_status())
    except Exception:
        traceback.print_exc()
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
    lines = []
    for name in args.sections:
        fn, desc = SECTIONS[name]
        print(f'\n== {name}: {desc}')
        try:
            lines += fn(args)
        except Exception:  # a section never stops the others
            traceback.print_exc()
    print()
    for line in lines:
        print(line)
    return 0


if __name__ == '__main__':
    try:
        main()
    except SystemExit as exc:  # argparse errors / --help
        if exc.code not in (0, None):
            print(f'bad arguments ({exc.code})')
    except Exception:
        traceback.print_exc()
    sys.exit(0)
