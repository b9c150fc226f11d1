"""Benchmark of the compiled multi-scale deformable attention sampling of vision_sparse.

Realistic camera-decoder sizes: the 6 views of a 900 x 1600 nuScenes image as the
batch (bs = 6, one batch item per view), 4 levels at strides 8 / 16 / 32 / 64
(``ceil(900 / s) x ceil(1600 / s)``: 113 x 200, 57 x 100, 29 x 50, 15 x 25 =
30,125 keys per view), 900 queries, 8 heads of 32 channels, 4 points per level;
sampling locations uniform over [-0.05, 1.05] (a few outside the maps),
attention weights a softmax over the 16 samples of a head; float32.

Times forward + backward (gradients w.r.t. value, locations and weights, as in
training) and the forward alone, compiled kernel vs the pure-PyTorch reference
(``F.grid_sample``), on CPU (and CUDA with ``--device cuda``).  Prints a table,
then ``TARGET ms_deform_attn_speedup`` (forward + backward).  Always exits 0.
About 30-60 s on 2 idle cores.

Usage:
    python benchmarks/bench_ms_deform_attn.py [--bs 6] [--queries 900] [--device cpu]
"""
import argparse
import math
import traceback

import torch

from common import best_time, fmt_t, run_script

NAN = float('nan')
STRIDES = (8, 16, 32, 64)


def make_inputs(args, device):
    g = torch.Generator().manual_seed(args.seed)
    shapes = torch.tensor([[math.ceil(args.height / s), math.ceil(args.width / s)]
                           for s in STRIDES], dtype=torch.int64)
    areas = shapes[:, 0] * shapes[:, 1]
    starts = torch.cat([areas.new_zeros(1), areas.cumsum(0)[:-1]])
    L, K, nh, P = len(STRIDES), int(areas.sum()), args.heads, args.points
    value = torch.randn(args.bs, K, nh, args.head_dim, generator=g)
    loc = torch.rand(args.bs, args.queries, nh, L, P, 2, generator=g) * 1.1 - 0.05
    logits = torch.randn(args.bs, args.queries, nh, L * P, generator=g)
    attn = logits.softmax(-1).reshape(args.bs, args.queries, nh, L, P)
    grad = torch.randn(args.bs, args.queries, nh * args.head_dim, generator=g)
    return [t.to(device) for t in (value, shapes, starts, loc, attn, grad)]


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def fwd_bwd(fn, value, shapes, starts, loc, attn, grad):
    xs = [t.detach().requires_grad_(True) for t in (value, loc, attn)]
    out = fn(xs[0], shapes, starts, xs[1], xs[2])
    out.backward(grad)
    return [out.detach()] + [x.grad for x in xs]


def measure(bs=6, queries=900, heads=8, head_dim=32, points=4, height=900, width=1600,
            device='cpu', repeat=3, seed=0):
    """Time compiled vs reference (the table is printed); returns a dict of seconds
    ``fb_c``, ``fb_r`` (forward + backward), ``f_c``, ``f_r`` (forward), the ratios
    ``speedup`` (forward + backward, reference / compiled) and ``forward_speedup``, and
    ``diffs`` (relative max differences of the output and the three gradients); NaN
    where something could not be measured."""
    args = argparse.Namespace(bs=bs, queries=queries, heads=heads, head_dim=head_dim,
                              points=points, height=height, width=width, seed=seed)
    res = dict(fb_c=NAN, fb_r=NAN, f_c=NAN, f_r=NAN)
    diffs = []
    try:
        from vision_sparse.ops._ext import ext_status, use_ext
        from vision_sparse.ops.ms_deform_attn import ms_deform_attn, ms_deform_attn_reference
        device = torch.device(device)
        print(ext_status())
        print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}')
        inputs = make_inputs(args, device)
        value, shapes, starts = inputs[:3]
        print(f'value {tuple(value.shape)} (levels {shapes.tolist()}), sampling_locations '
              f'{tuple(inputs[3].shape)}, float32')
        if not use_ext(value):
            print('no compiled kernel for this device (run `make ops` or '
                  '`python setup.py build_ext --inplace`): nothing to compare.')
        else:
            fwd_bwd(ms_deform_attn, *inputs)  # warm-up (library load, allocator)
            got, res['fb_c'] = best_time(lambda: fwd_bwd(ms_deform_attn, *inputs), repeat,
                                         lambda: sync(device))
            want, res['fb_r'] = best_time(lambda: fwd_bwd(ms_deform_attn_reference, *inputs),
                                          repeat, lambda: sync(device))
            diffs = [float((a - b).abs().max() / b.abs().max().clamp(min=1e-30))
                     for a, b in zip(got, want)]
            with torch.no_grad():
                _, res['f_c'] = best_time(lambda: ms_deform_attn(*inputs[:5]), repeat,
                                          lambda: sync(device))
                _, res['f_r'] = best_time(lambda: ms_deform_attn_reference(*inputs[:5]),
                                          repeat, lambda: sync(device))
    except Exception:  # report, never fail
        traceback.print_exc()

    def ratio(a, b):
        return a / b if (b and not math.isnan(a) and not math.isnan(b)) else NAN

    r_fb, r_f = ratio(res['fb_r'], res['fb_c']), ratio(res['f_r'], res['f_c'])
    print()
    print(f'{"benchmark":<28}{"compiled":>14}{"reference":>14}{"ref/comp":>10}')
    print(f'{"forward + backward":<28}{fmt_t(res["fb_c"]):>14}{fmt_t(res["fb_r"]):>14}'
          f'{r_fb:>10.1f}')
    print(f'{"forward":<28}{fmt_t(res["f_c"]):>14}{fmt_t(res["f_r"]):>14}{r_f:>10.1f}')
    if diffs:
        print('max |compiled - reference| / max |reference|: output {:.3g}, grad value {:.3g}, '
              'grad locations {:.3g}, grad weights {:.3g}'.format(*diffs))
    print()
    return dict(res, speedup=r_fb, forward_speedup=r_f, diffs=diffs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--bs', type=int, default=6, help='batch (one item per camera view)')
    ap.add_argument('--queries', type=int, default=900)
    ap.add_argument('--heads', type=int, default=8)
    ap.add_argument('--head-dim', type=int, default=32)
    ap.add_argument('--points', type=int, default=4)
    ap.add_argument('--height', type=int, default=900, help='image height, pixels')
    ap.add_argument('--width', type=int, default=1600, help='image width, pixels')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--repeat', type=int, default=3, help='runs of each (best)')
    ap.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    r_fb = measure(args.bs, args.queries, args.heads, args.head_dim, args.points, args.height,
                   args.width, args.device, args.repeat, args.seed)['speedup']
    status = 'PASS' if (not math.isnan(r_fb) and r_fb >= 5) else 'FAIL'
    shown = 'nan' if math.isnan(r_fb) else f'{r_fb:.3g}'
    print(f'TARGET ms_deform_attn_speedup measured={shown} goal=>=5 {status}')
    return 0

if __name__ == '__main__':
    run_script(main)
