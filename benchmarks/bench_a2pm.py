#!/usr/bin/env python
"""A2PM benchmark on the shared ScanNet sample pairs (one run).

Areas come from the SAM-free ``SegmentationAreaSource`` (once per image). Area
matching runs once per pair for MESA and for DMESA with one fixed coarse
matcher (``--coarse``, default XFeat; the official code uses ASpanFormer for
every point matcher): MESA on 192 px crop pairs with cached crop features,
DMESA on the whole images. On the first ``--speed-pairs`` pairs MESA is also
run the official way, one coarse matcher call per crop pair (identical area
pairs, checked), and that time is the MESA side of the speed target.

Then for each point matcher (default XFeat; ``--matchers xfeat,xfeat-lighterglue`` adds
XFeat + LighterGlue, ~35 s per pair here) and pair: the bare matcher on the
full images (resized to 640 inside the matcher) and A2PM inside the MESA and the DMESA area pairs (crops from the full 1296x968
images, ``--crop-size`` px). All matches are evaluated at 640x480 with the
ScanNet-1500 protocol (MAGSAC essential matrix, 0.5 px, 0.99999; AUC of
max(rotation, translation) error at 5/10/20 degrees). Printed: a table (AUC,
matches, seconds per pair, crop pairs scored), the area-matching time of MESA
vs DMESA, the total time of A2PM vs the bare matcher, pairs improved / worsened,
and the TARGET lines::

    TARGET dmesa_area_matching_speedup_vs_mesa measured=<x> goal=>=5 PASS|FAIL
    TARGET a2pm_auc10_gain_over_bare measured=<pts> goal=>0 PASS|FAIL

Always exits 0.

    python benchmarks/bench_a2pm.py [--pairs 15] [--matchers sift,xfeat,xfeat-lighterglue,aliked-lightglue]
"""
import argparse
import sys
import time

import numpy as np

from vision_sparse.datasets.matching_pairs import ScanNetPairsDataset
from vision_sparse.evaluation.functional.pose import (estimate_relative_pose,
                                                      pose_auc, pose_error,
                                                      relative_pose_error)
from vision_sparse.models.area_matchers import A2PMMatcher
from vision_sparse.models.area_matchers import SegmentationAreaSource
from vision_sparse.registry import MODELS
from vision_sparse.testing import shared_data_root

LEARNED = ('xfeat', 'xfeat-lighterglue', 'aliked-lightglue', 'disk-lightglue')
MATCHERS = {
    'sift': dict(type='SIFTMatcher', resize_max=640),
    'xfeat': dict(type='XFeatMatcher', resize_max=640),
    'xfeat-lighterglue': dict(type='XFeatMatcher', matcher='lighterglue', resize_max=640),
    'aliked-lightglue': dict(type='LightGlueMatcher', features='aliked', resize_max=640),
    'disk-lightglue': dict(type='LightGlueMatcher', features='disk', resize_max=640),
}
EVAL_SIZE = (640, 480)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--pairs', type=int, default=15, help='first N of the 15 pairs')
    p.add_argument('--speed-pairs', type=int, default=2,
                   help='pairs on which MESA is also timed with one coarse matcher call '
                        'per crop pair (the official protocol; slow)')
    p.add_argument('--matchers', default='xfeat',
                   help=f'comma list of {sorted(MATCHERS)}')
    p.add_argument('--coarse', default='xfeat',
                   help='coarse matcher of MESA and DMESA (fixed for every point '
                        'matcher, as the official code uses ASpan for all)')
    p.add_argument('--mesa-crop', type=int, default=192,
                   help='crop side of MESA\'s coarse matcher, px')
    p.add_argument('--crop-size', type=int, default=480,
                   help='crop side of the point matcher inside areas, px')
    p.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    return p.parse_args(argv)


def to_eval(kpts, size):
    """Full-resolution pixels -> EVAL_SIZE pixels (pixel-centre convention)."""
    s = np.array([EVAL_SIZE[0] / size[1], EVAL_SIZE[1] / size[0]])
    return (np.asarray(kpts, np.float64) + 0.5) * s - 0.5


def eval_K(K, size):
    sx, sy = EVAL_SIZE[0] / size[1], EVAL_SIZE[1] / size[0]
    S = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])
    return S @ K


def pose_err(item, k0, k1):
    s0, s1 = item['image0'].shape[:2], item['image1'].shape[:2]
    K0, K1 = eval_K(item['K0'], s0), eval_K(item['K1'], s1)
    est = estimate_relative_pose(to_eval(k0, s0), to_eval(k1, s1), K0, K1, 0.5, 0.99999)
    if est is None:
        return float('inf')
    e_r, e_t = relative_pose_error(item['T_0to1'], est['R'], est['t'])
    return float(pose_error(e_r, e_t))


def main(argv=None):
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    root = shared_data_root()
    if root is None:
        print('shared data (../shared/data) not found: nothing to benchmark')
        print('TARGET dmesa_area_matching_speedup_vs_mesa measured=nan goal=>=5 FAIL')
        print('TARGET a2pm_auc10_gain_over_bare measured=nan goal=>0 FAIL')
        return 0
    ds = ScanNetPairsDataset(str(root / 'matching' / 'scannet_pairs'),
                             'scannet_sample_pairs_with_gt.txt', 'scannet_sample_images',
                             resize=None, max_pairs=args.pairs)
    names = [m.strip() for m in args.matchers.split(',') if m.strip()]
    bad = [m for m in names + [args.coarse] if m not in MATCHERS]
    if bad:
        raise SystemExit(f'unknown matchers {bad}; choose from {sorted(MATCHERS)}')
    print(f'A2PM benchmark: {len(ds)} of 15 ScanNet sample pairs (full resolution '
          f'1296x968, evaluated at 640x480), matchers {names}, SAM-free areas, '
          f'MESA coarse crops {args.mesa_crop} px, area crops {args.crop_size} px, '
          f'{args.threads} torch threads')
    t_start = time.perf_counter()
    source = SegmentationAreaSource(keep_masks=False)
    items, areas, t_areas = [], [], []
    for i in range(len(ds)):
        item = ds[i]
        t = time.perf_counter()
        areas.append((source(item['image0']), source(item['image1'])))
        t_areas.append(time.perf_counter() - t)
        items.append(item)
    n_areas = np.mean([len(a) for pair in areas for a in pair])
    print(f'areas: {n_areas:.1f} per image, {sum(t_areas) / (2 * len(ds)):.2f} s per image')

    # ---- area matching once per pair and method, shared by every point matcher
    coarse_mesa = MODELS.build(dict(MATCHERS[args.coarse], resize_max=args.mesa_crop))
    coarse_dmesa = MODELS.build(dict(MATCHERS[args.coarse], resize_max=640))
    area_matchers = {
        'mesa': MODELS.build(dict(type='MESA', crop_size=args.mesa_crop,
                                  coarse_matcher=coarse_mesa)),
        'dmesa': MODELS.build(dict(type='DMESA', coarse_matcher=coarse_dmesa)),
    }
    official = MODELS.build(dict(type='MESA', crop_size=args.mesa_crop,
                                 coarse_matcher=coarse_mesa, cache_features=False))
    area_out = {m: [] for m in area_matchers}
    t_am = {m: [] for m in area_matchers}
    t_official, same = [], True
    for k, (item, (a0, a1)) in enumerate(zip(items, areas)):
        data = dict(image0=item['image0'], image1=item['image1'], areas0=a0, areas1=a1)
        for m, am in area_matchers.items():
            t = time.perf_counter()
            area_out[m].append(am(data))
            t_am[m].append(time.perf_counter() - t)
        if k < args.speed_pairs:
            t = time.perf_counter()
            ref = official(data)
            t_official.append(time.perf_counter() - t)
            same &= bool(np.array_equal(ref['boxes1'], area_out['mesa'][-1]['boxes1'])
                         and np.array_equal(ref['activity'], area_out['mesa'][-1]['activity']))
        print(f'  area matching {item["name0"]}: MESA {t_am["mesa"][-1]:.1f} s '
              f'({area_out["mesa"][-1]["num_matcher_calls"]} crop pairs, '
              f'{len(area_out["mesa"][-1]["boxes0"])} area pairs), DMESA '
              f'{t_am["dmesa"][-1]:.1f} s ({len(area_out["dmesa"][-1]["boxes0"])} area pairs)'
              + (f', MESA one call per crop pair {t_official[-1]:.1f} s' if k < args.speed_pairs
                 else '') + f'; elapsed {time.perf_counter() - t_start:.0f} s', flush=True)

    # ---- point matchers: bare and inside the MESA / DMESA area pairs
    rows, stats = [], {}
    for name in names:
        pm = MODELS.build(dict(MATCHERS[name]))
        a2pm = A2PMMatcher(pm, source, 'dmesa', crop_size=args.crop_size)
        errs = {m: [] for m in ('bare', 'mesa', 'dmesa')}
        nmatch = {m: [] for m in errs}
        t_total = {m: 0.0 for m in errs}
        for k, (item, (a0, a1), t_pair_areas) in enumerate(zip(items, areas, t_areas)):
            t = time.perf_counter()
            out = pm(dict(image0=item['image0'], image1=item['image1']))
            t_bare = time.perf_counter() - t
            t_total['bare'] += t_bare
            errs['bare'].append(pose_err(item, out['kpts0'], out['kpts1']))
            nmatch['bare'].append(len(out['kpts0']))
            full = dict(kpts0=out['kpts0'], kpts1=out['kpts1'], scores=out['scores'])
            for method in area_matchers:
                res = a2pm(dict(image0=item['image0'], image1=item['image1'],
                                areas0=a0, areas1=a1, full_matches=full,
                                area_matches=area_out[method][k]))
                # A2PM reused the shared full-image call, areas and area matches
                t_total[method] += (res['timings']['total'] + t_bare + t_pair_areas
                                    + t_am[method][k])
                errs[method].append(pose_err(item, res['kpts0'], res['kpts1']))
                nmatch[method].append(len(res['kpts0']))
            print(f'  {name} {item["name0"]}: pose err bare {errs["bare"][-1]:.1f} '
                  f'mesa {errs["mesa"][-1]:.1f} dmesa {errs["dmesa"][-1]:.1f} deg; '
                  f'elapsed {time.perf_counter() - t_start:.0f} s', flush=True)
        n = len(items)
        aucs = {m: [100 * a for a in pose_auc(errs[m], (5, 10, 20))] for m in errs}
        for m in errs:
            t_area = np.mean(t_am[m]) if m in t_am else float('nan')
            calls = (np.mean([o['num_matcher_calls'] for o in area_out[m]])
                     if m in area_out else float('nan'))
            rows.append((name, m, *aucs[m], np.mean(nmatch[m]), t_area, t_total[m] / n, calls))
        wins = {m: int(np.sum(np.array(errs[m]) < np.array(errs['bare']))) for m in t_am}
        losses = {m: int(np.sum(np.array(errs[m]) > np.array(errs['bare']))) for m in t_am}
        stats[name] = dict(auc=aucs, t_total=t_total, wins=wins, losses=losses)

    print()
    head = ('matcher', 'method', 'AUC@5', 'AUC@10', 'AUC@20', 'matches',
            'area s/pair', 'total s/pair', 'crop pairs/pair')
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    for r in rows:
        print(f'| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.0f} | '
              f'{r[6]:.2f} | {r[7]:.2f} | {r[8]:.1f} |'.replace('nan', '-'))
    ns = len(t_official)
    mesa_off = float(np.sum(t_official))
    mesa_cached = float(np.sum(t_am['mesa'][:ns]))
    dmesa_t = float(np.sum(t_am['dmesa'][:ns]))
    speedup = mesa_off / max(dmesa_t, 1e-9) if ns else float('nan')
    print(f'\narea matching on the first {ns} pairs: MESA with one coarse call per crop pair '
          f'(official) {mesa_off:.1f} s, MESA with cached crop features {mesa_cached:.1f} s '
          f'(same activity maps and area pairs: {same}), DMESA {dmesa_t:.1f} s '
          f'-> DMESA {speedup:.1f}x faster than official MESA, '
          f'{mesa_cached / max(dmesa_t, 1e-9):.2f}x than cached MESA')
    for name, s in stats.items():
        tt = s['t_total']
        print(f'total time {name}: bare {tt["bare"] / len(items):.2f} s/pair, '
              f'A2PM-MESA {tt["mesa"] / len(items):.2f} s/pair '
              f'({tt["mesa"] / max(tt["bare"], 1e-9):.1f}x), A2PM-DMESA '
              f'{tt["dmesa"] / len(items):.2f} s/pair '
              f'({tt["dmesa"] / max(tt["bare"], 1e-9):.1f}x); pairs better / worse than '
              f'bare: MESA {s["wins"]["mesa"]}/{s["losses"]["mesa"]}, '
              f'DMESA {s["wins"]["dmesa"]}/{s["losses"]["dmesa"]}')
    learned = [n for n in stats if n in LEARNED]
    gains = {n: max(stats[n]['auc']['mesa'][1], stats[n]['auc']['dmesa'][1])
             - stats[n]['auc']['bare'][1] for n in (learned or stats)}
    best = max(gains, key=gains.get)
    gain = gains[best]
    print(f'best AUC@10 gain over the bare matcher ({"learned" if learned else "any"} '
          f'matchers): {best} {gain:+.2f} points')
    print(f'benchmark wall time {time.perf_counter() - t_start:.0f} s')
    print(f'TARGET dmesa_area_matching_speedup_vs_mesa measured={speedup:.2f} goal=>=5 '
          f'{"PASS" if speedup >= 5 else "FAIL"}')
    print(f'TARGET a2pm_auc10_gain_over_bare measured={gain:.2f} goal=>0 '
          f'{"PASS" if gain > 0 else "FAIL"}')
    return 0


if __name__ == '__main__':
    try:
        main()
    except SystemExit as err:
        print(err)
    sys.exit(0)
