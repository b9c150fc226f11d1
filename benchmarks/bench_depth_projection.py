"""Benchmark of the compiled depth projection (LiDAR points -> sparse depth maps).

The real nuScenes keyframe sweep (34,688 points, ``../shared/data/lidar_camera/
nuscenes``) projected into its 6 cameras at 900 x 1600 (lidar2img = cam2img @
lidar2cam): the compiled kernel (CPU; CUDA too when a GPU is present) vs the
pure-PyTorch reference on the same device, depth only and with the index of the
winning point, the depth-only call followed by a read of every pixel (an 8 x 8
max-pool), and whether their outputs are identical.  Without the sample a
random sweep of the same size is used (the line says so).  Prints a table, then
one ``TARGET`` line (the depth-only CPU ratio).  Always exits 0; takes a few seconds.

Usage:
    python benchmarks/bench_depth_projection.py [--repeat 20] [--threads T]
"""
import argparse
import math
import traceback

import numpy as np
import torch

from common import best_time, fmt_t, run_script

NAN = float('nan')


def keyframe():
    """(points (P, 5) float32, lidar2img (6, 4, 4) float32, note)."""
    from vision_sparse.datasets.formats import load_det3d_info, load_points
    from vision_sparse.testing.data import shared_data_root
    root = shared_data_root()
    nus = None if root is None else root / 'lidar_camera' / 'nuscenes'
    if nus is not None and nus.is_dir() and any(nus.glob('*.pkl')):
        info = load_det3d_info(next(nus.glob('*.pkl')))[0]
        pts = torch.from_numpy(load_points(info['lidar_path'], info['num_pts_feats']))
        mats = []
        for cam in info['cameras'].values():
            k = np.eye(4)
            c = np.asarray(cam['cam2img'], np.float64)
            k[:c.shape[0], :c.shape[1]] = c
            mats.append(k @ np.asarray(cam['lidar2cam'], np.float64))
        return pts, torch.from_numpy(np.stack(mats)).float(), 'real keyframe sweep'
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(34688, 5, generator=g) * torch.tensor([20.0, 20.0, 1.0, 1.0, 1.0])
    k = torch.tensor([[1266.0, 0, 800, 0], [0, 1266, 450, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    mats = []
    for v in range(6):  # six cameras around the z axis (x fwd, y left, z up)
        a = 2 * math.pi * v / 6
        rot = torch.tensor([[-math.sin(a), math.cos(a), 0.0], [0.0, 0.0, -1.0],
                            [math.cos(a), math.sin(a), 0.0]])
        l2c = torch.eye(4)
        l2c[:3, :3] = rot
        mats.append(k @ l2c)
    return pts, torch.stack(mats), 'synthetic sweep (nuScenes sample not found)'


def same(a, b):
    if isinstance(a, tuple):
        return all(torch.equal(x, y) for x, y in zip(a, b))
    return torch.equal(a, b)


def measure(repeat=20, height=900, width=1600):
    """Time compiled vs reference (the table is printed); returns ``dict(speedup=...,
    identical=..., note=..., rows=[(name, compiled s, reference s), ...])``: ``speedup``
    is the depth-only CPU ratio reference / compiled (NaN when not measured),
    ``identical`` whether every compiled output equals the reference (None when
    nothing ran), ``note`` where the sweep came from."""
    rows, speedup, note, identical = [], NAN, '', None
    try:
        from vision_sparse.ops import depth_projection_reference, project_depth
        from vision_sparse.ops._ext import ext_status, has_ext
        print(ext_status())
        print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
        pts, mats, note = keyframe()
        size = (height, width)
        print(f'{note}: {len(pts)} points, {len(mats)} views of {size[0]} x {size[1]}')
        devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
        if not has_ext():
            print('vision_sparse._C is not built: nothing to compare.')
            devices = []
        identical = True
        for dev in devices:
            p, m = pts.to(dev), mats.to(dev)
            sync = torch.cuda.synchronize if dev == 'cuda' else None
            for with_index in (False, True):
                def comp():
                    return project_depth(p, m, size, return_index=with_index)

                def ref():
                    return depth_projection_reference(p, m, size, return_index=with_index)

                comp(), ref()  # warm-up
                oc, tc = best_time(comp, repeat, sync)
                orf, tr = best_time(ref, max(1, repeat // 2), sync)
                identical &= same(oc, orf)
                rows.append((f'{dev}, depth{" + index" if with_index else ""}', tc, tr))
                if dev == 'cpu' and not with_index:
                    speedup = tr / tc
                    # with a consumer that reads every pixel (the op maps fresh
                    # zero pages on the CPU: reading them must not hide a cost)
                    def pool(fn):
                        return lambda: torch.nn.functional.max_pool2d(fn()[:, None], 8)

                    _, tcp = best_time(pool(comp), repeat, sync)
                    _, trp = best_time(pool(ref), max(1, repeat // 2), sync)
                    rows.append((f'{dev}, depth, then max-pool 8', tcp, trp))
    except Exception:  # report, never fail
        traceback.print_exc()
    print()
    print(f'{"benchmark":<28}{"compiled":>14}{"reference":>14}{"ref/comp":>10}')
    for name, tc, tr in rows:
        print(f'{name:<28}{fmt_t(tc, 2):>14}{fmt_t(tr, 2):>14}{tr / tc:>10.1f}')
    print(f'outputs identical (compiled vs reference): {identical}')
    print()
    return dict(speedup=speedup, identical=identical, note=note, rows=rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--repeat', type=int, default=20, help='runs per timing (best)')
    ap.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    ap.add_argument('--height', type=int, default=900)
    ap.add_argument('--width', type=int, default=1600)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    res = measure(args.repeat, args.height, args.width)
    speedup, identical, note = res['speedup'], res['identical'], res['note']
    ok = not math.isnan(speedup) and speedup >= 5 and identical is not False
    shown = 'nan' if math.isnan(speedup) else f'{speedup:.1f}'
    line = f'TARGET depth_projection_speedup measured={shown} goal=>=5 {"PASS" if ok else "FAIL"}'
    print(line + (f'  # {note}' if note and not note.startswith('real') else ''))
    return 0

if __name__ == '__main__':
    run_script(main)
