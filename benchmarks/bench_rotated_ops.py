"""Benchmark of the compiled rotated-box ops of vision_sparse.

(a) IoU of 2,000 x 2,000 rotated boxes: compiled CPU kernel vs the pure-PyTorch
    reference vs shapely 2 (vectorised ``shapely.intersection`` of the polygons,
    union = area1 + area2 - intersection), and the largest |IoU difference| with
    shapely;
(b) greedy NMS of 20,000 boxes (random scores, IoU threshold 0.5): compiled
    kernel vs the reference, and whether their keep lists are identical.

Boxes are realistic: centres in a 1024 x 1024 image, sides of 8 to 200 px,
random angles, float32.  Prints a table, then one ``TARGET`` line per target.
Always exits 0.

The defaults take about 2-3 minutes on 2 idle cores, mostly the references
(IoU reference ~15 s, shapely ~15-30 s, NMS reference ~80 s).  ``--nms-ref-boxes
K`` times both NMS implementations on the first K boxes only (faster; the ratio
is then the one at K boxes, and the line says so).

Usage:
    python benchmarks/bench_rotated_ops.py [--n-iou 2000] [--n-nms 20000]
"""
import argparse
import math
import traceback

import torch

from common import best_time, fmt_t, run_script

NAN = float('nan')


def rand_boxes(n, generator, img=1024.0, smin=8.0, smax=200.0):
    c = torch.rand(n, 2, generator=generator, dtype=torch.float64) * img
    wh = smin + torch.rand(n, 2, generator=generator, dtype=torch.float64) * (smax - smin)
    t = (torch.rand(n, 1, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi
    return torch.cat([c, wh, t], 1).float()


def shapely_iou(b1, b2, chunk_rows):
    import numpy as np
    import shapely

    def polys(b):
        b = b.double().numpy()
        cx, cy, w, h, t = b.T
        sx = np.array([1.0, -1.0, -1.0, 1.0])
        sy = np.array([1.0, 1.0, -1.0, -1.0])
        lx, ly = sx[None] * w[:, None] / 2, sy[None] * h[:, None] / 2
        c, s = np.cos(t)[:, None], np.sin(t)[:, None]
        return shapely.polygons(np.stack([cx[:, None] + lx * c - ly * s,
                                          cy[:, None] + lx * s + ly * c], -1))

    p1, p2 = polys(b1), polys(b2)
    a1, a2 = shapely.area(p1), shapely.area(p2)
    out = np.empty((len(p1), len(p2)))
    for i in range(0, len(p1), chunk_rows):
        inter = shapely.area(shapely.intersection(p1[i:i + chunk_rows, None], p2[None, :]))
        union = a1[i:i + chunk_rows, None] + a2[None, :] - inter
        out[i:i + chunk_rows] = inter / np.maximum(union, 1e-6)
    return torch.from_numpy(out)


def target(name, value, goal, ok, note=''):
    status = 'PASS' if (ok and not math.isnan(value)) else 'FAIL'
    goal_s = goal
    shown = 'nan' if math.isnan(value) else (f'{value:.3g}' if 'diff' in name
                                             else f'{value:.1f}')
    line = f'TARGET {name} measured={shown} goal={goal_s} {status}'
    return line + (f'  # {note}' if note else '')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--n-iou', type=int, default=2000, help='boxes per side of the IoU matrix')
    ap.add_argument('--n-nms', type=int, default=20000, help='boxes of the NMS benchmark')
    ap.add_argument('--nms-thr', type=float, default=0.5, help='NMS IoU threshold')
    ap.add_argument('--nms-ref-boxes', type=int, default=None,
                    help='time the NMS ratio on the first K boxes only (default: all)')
    ap.add_argument('--repeat', type=int, default=3, help='runs of the compiled kernels (best)')
    ap.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    ap.add_argument('--shapely-chunk', type=int, default=250, help='rows per shapely chunk')
    ap.add_argument('--skip-shapely', action='store_true')
    ap.add_argument('--skip-reference', action='store_true')
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    res = dict(iou_c=NAN, iou_r=NAN, iou_s=NAN, diff_s=NAN, nms_c=NAN, nms_r=NAN)
    same_keep = None
    nms_note = ''
    try:
        from vision_sparse.ops._ext import ext_status, has_ext
        from vision_sparse.ops.box_iou_rotated import (box_iou_rotated,
                                                       box_iou_rotated_reference)
        from vision_sparse.ops.nms_rotated import nms_rotated, nms_rotated_reference
        print(ext_status())
        print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
        if not has_ext():
            print('vision_sparse._C is not built (run `make ops` or '
                  '`python setup.py build_ext --inplace`): nothing to compare.')
        else:
            g = torch.Generator().manual_seed(args.seed)
            b1, b2 = rand_boxes(args.n_iou, g), rand_boxes(args.n_iou, g)
            box_iou_rotated(b1[:8], b2[:8])  # warm-up (library load)
            iou_c, res['iou_c'] = best_time(lambda: box_iou_rotated(b1, b2), args.repeat)
            if not args.skip_reference:
                iou_r, res['iou_r'] = best_time(lambda: box_iou_rotated_reference(b1, b2), 1)
                print(f'max |IoU compiled - reference| = '
                      f'{(iou_c - iou_r).abs().max().item():.3g}')
            if not args.skip_shapely:
                try:
                    iou_s, res['iou_s'] = best_time(
                        lambda: shapely_iou(b1, b2, args.shapely_chunk), 1)
                    res['diff_s'] = (iou_c.double() - iou_s).abs().max().item()
                except ImportError as exc:
                    print(f'shapely unavailable: {exc}')

            boxes, scores = rand_boxes(args.n_nms, g), torch.rand(args.n_nms, generator=g)
            k_c, res['nms_c'] = best_time(lambda: nms_rotated(boxes, scores, args.nms_thr),
                                          args.repeat)
            print(f'NMS of {args.n_nms} boxes: {k_c.numel()} kept')
            if not args.skip_reference:
                k = args.nms_ref_boxes
                if k is not None and k < args.n_nms:
                    nms_note = f'ratio measured on the first {k} of {args.n_nms} boxes'
                    bk, sk = boxes[:k], scores[:k]
                    k_c, res['nms_c'] = best_time(lambda: nms_rotated(bk, sk, args.nms_thr),
                                                  args.repeat)
                else:
                    bk, sk = boxes, scores
                k_r, res['nms_r'] = best_time(
                    lambda: nms_rotated_reference(bk, sk, args.nms_thr), 1)
                same_keep = torch.equal(k_c, k_r)
    except Exception:  # report, never fail
        traceback.print_exc()

    def ratio(a, b):
        return a / b if (b and not math.isnan(a) and not math.isnan(b)) else NAN

    r_ref = ratio(res['iou_r'], res['iou_c'])
    r_shp = ratio(res['iou_s'], res['iou_c'])
    r_nms = ratio(res['nms_r'], res['nms_c'])
    print()
    print(f'{"benchmark":<34}{"compiled":>14}{"reference":>14}{"shapely":>14}'
          f'{"ref/comp":>10}{"shp/comp":>10}')
    print(f'{f"IoU {args.n_iou} x {args.n_iou}":<34}{fmt_t(res["iou_c"]):>14}'
          f'{fmt_t(res["iou_r"]):>14}{fmt_t(res["iou_s"]):>14}{r_ref:>10.1f}{r_shp:>10.1f}')
    n_nms = args.nms_ref_boxes if nms_note else args.n_nms
    print(f'{f"NMS {n_nms} boxes, thr {args.nms_thr}":<34}{fmt_t(res["nms_c"]):>14}'
          f'{fmt_t(res["nms_r"]):>14}{"":>14}{r_nms:>10.1f}{"":>10}')
    print(f'max |IoU compiled - shapely| = {res["diff_s"]:.3g}')
    print(f'NMS keep lists identical (compiled vs reference): {same_keep}')
    print()
    print(target('rotated_iou_speedup_vs_reference', r_ref, '>=10', r_ref >= 10))
    print(target('rotated_iou_speedup_vs_shapely', r_shp, '>=10', r_shp >= 10))
    print(target('rotated_iou_max_abs_diff_vs_shapely', res['diff_s'], '<=1e-4',
                 res['diff_s'] <= 1e-4))
    print(target('rotated_nms_speedup_vs_reference', r_nms, '>=10',
                 r_nms >= 10 and same_keep is not False, nms_note))
    return 0


if __name__ == '__main__':
    run_script(main)
