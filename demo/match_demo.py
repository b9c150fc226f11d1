#!/usr/bin/env python
"""A2PM demo: match two images through matched areas and draw the result.

    python demo/match_demo.py [IMG0 IMG1] [--config CFG] [--matcher sift|xfeat|aliked-lightglue]
        [--area-matcher dmesa|mesa] [--areas segment|sam|file]
        [--sam-checkpoint PATH] [--mask-dir DIR] [--K0 f,f,..|file] [--K1 ...]
        [--out DIR]

Without images, the first ScanNet sample pair of ``../shared/data`` is used
(with its intrinsics and ground-truth pose); without the sample data, a
synthetic homography pair. Pictures written to ``--out``:

* ``areas.png``: the areas found in each image;
* ``area_matches.png``: matched area pairs (one colour per pair; thin boxes
  were rejected by the geometric filter);
* ``point_matches.png``: the A2PM matches above the bare matcher's; green:
  correct under the ground-truth pose (sample pairs: symmetric epipolar error
  < 5e-4), else inliers of the estimated pose / fundamental matrix; red: the
  others.
"""
import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from vision_sparse.models.area_matchers import A2PMMatcher
from vision_sparse.registry import MODELS
from vision_sparse.testing import shared_data_path
from vision_sparse.visualization import (draw_areas, draw_matches,
                                         make_grid, palette, put_text_block,
                                         save_image)

MATCHERS = {
    'sift': dict(type='SIFTMatcher'),
    'xfeat': dict(type='XFeatMatcher'),
    'aliked-lightglue': dict(type='LightGlueMatcher', features='aliked'),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('images', nargs='*', help='IMG0 IMG1 (default: a ScanNet sample pair)')
    p.add_argument('--config', help='config with an A2PMEvalModel / A2PMMatcher `model`')
    p.add_argument('--matcher', default='xfeat', choices=sorted(MATCHERS))
    p.add_argument('--area-matcher', default='dmesa', choices=('dmesa', 'mesa'))
    p.add_argument('--areas', default='segment', choices=('segment', 'sam', 'file'))
    p.add_argument('--sam-checkpoint', help='SAM .pth for --areas sam')
    p.add_argument('--sam-type', default='vit_h', choices=('vit_h', 'vit_l', 'vit_b'))
    p.add_argument('--mask-dir', help='folder of <image stem>.npy/.png masks for --areas file')
    p.add_argument('--mask-pattern', default='{stem}.npy')
    p.add_argument('--K0', help='9 comma-separated numbers (row-major) or a text file')
    p.add_argument('--K1', help='same for image 1')
    p.add_argument('--out', default='work_dirs/demo/a2pm')
    return p.parse_args(argv)


def read_rgb(path: str) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f'cannot read image {path}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_K(spec):
    if spec is None:
        return None
    vals = (np.loadtxt(spec) if Path(spec).is_file()
            else np.array([float(v) for v in spec.split(',')]))
    if vals.size != 9:
        raise SystemExit(f'intrinsics must have 9 numbers, got {vals.size} from {spec!r}')
    return vals.reshape(3, 3)


def default_inputs():
    """(img0, img1, K0, K1, T_0to1, name0, name1, label)."""
    pairs = shared_data_path('matching', 'scannet_pairs', 'scannet_sample_pairs_with_gt.txt')
    if pairs is not None:
        p = pairs.read_text().split('\n')[0].split()
        folder = pairs.parent / 'scannet_sample_images'
        return (read_rgb(folder / p[0]), read_rgb(folder / p[1]),
                np.array(p[4:13], float).reshape(3, 3), np.array(p[13:22], float).reshape(3, 3),
                np.array(p[22:38], float).reshape(4, 4), p[0], p[1], 'ScanNet sample pair 0')
    from vision_sparse.testing.synthetic_pairs import make_homography_pair, procedural_texture
    pair = make_homography_pair(procedural_texture((640, 480), seed=3), seed=1)
    return (pair['image0'], pair['image1'], None, None, None, 'synthetic0.png',
            'synthetic1.png', 'synthetic homography pair (no shared data)')


def build_matcher(args) -> A2PMMatcher:
    if args.areas == 'sam':
        if not args.sam_checkpoint:
            raise SystemExit('--areas sam needs --sam-checkpoint PATH (weights are never '
                             'downloaded)')
        source = dict(type='SAMAreaSource', checkpoint=args.sam_checkpoint,
                      model_type=args.sam_type)
    elif args.areas == 'file':
        if not args.mask_dir:
            raise SystemExit('--areas file needs --mask-dir DIR')
        source = dict(type='MaskFileAreaSource', root=args.mask_dir, pattern=args.mask_pattern)
    else:
        source = dict(type='SegmentationAreaSource')
    if args.config:
        from mmengine.config import Config
        model = Config.fromfile(args.config).model.to_dict()
        if model.get('type') == 'A2PMMatcher':
            model.setdefault('area_source', source)
            return MODELS.build(model)
        if model.get('type') != 'A2PMEvalModel':
            raise SystemExit(f'{args.config}: model must be an A2PMEvalModel or A2PMMatcher')
        am = dict(type=args.area_matcher.upper(), **(model.get(args.area_matcher) or {}))
        return A2PMMatcher(model['point_matcher'], model.get('area_source', source), am,
                           **(model.get('a2pm') or {}))
    return A2PMMatcher(MATCHERS[args.matcher], source, args.area_matcher)


def inlier_mask(k0, k1, K0, K1):
    """Inliers of the relative pose (with intrinsics) or of a fundamental matrix."""
    if len(k0) < 8:
        return np.zeros(len(k0), bool)
    if K0 is not None:
        from vision_sparse.evaluation.functional.pose import estimate_relative_pose
        est = estimate_relative_pose(k0, k1, K0, K1, 0.5, 0.99999)
        return np.zeros(len(k0), bool) if est is None else est['inliers']
    _, mask = cv2.findFundamentalMat(k0.astype(np.float64), k1.astype(np.float64),
                                     cv2.USAC_MAGSAC, 1.0, 0.999)
    return np.zeros(len(k0), bool) if mask is None else mask.ravel() > 0


def pose_text(out, T):
    if T is None or out.get('R') is None:
        return None
    from vision_sparse.evaluation.functional.pose import relative_pose_error
    e_r, e_t = relative_pose_error(T, out['R'], out['t'])
    return f'pose error: rotation {e_r:.1f} deg, translation {e_t:.1f} deg'


def main(argv=None):
    args = parse_args(argv)
    if args.images and len(args.images) != 2:
        raise SystemExit('give two images (IMG0 IMG1) or none')
    if args.images:
        img0, img1 = read_rgb(args.images[0]), read_rgb(args.images[1])
        K0, K1, T = read_K(args.K0), read_K(args.K1), None
        name0, name1 = Path(args.images[0]).name, Path(args.images[1]).name
        label = f'{name0} / {name1}'
    else:
        img0, img1, K0, K1, T, name0, name1, label = default_inputs()
    matcher = build_matcher(args)
    t0 = time.perf_counter()
    out = matcher(dict(image0=img0, image1=img1, K0=K0, K1=K1, name0=name0, name1=name1))
    dt = time.perf_counter() - t0
    bare = matcher.point_matcher(dict(image0=img0, image1=img1))

    outdir = Path(args.out)
    # 1. areas of each image
    a0, a1 = out['area_set0'], out['area_set1']
    pics = [put_text_block(draw_areas(img0, a0.boxes, alpha=0.25), f'image 0: {len(a0)} areas'),
            put_text_block(draw_areas(img1, a1.boxes, alpha=0.25), f'image 1: {len(a1)} areas')]
    p_areas = save_image(outdir / 'areas.png', make_grid(pics, ncols=2))
    # 2. matched area pairs, one colour per pair
    cols = palette(len(out['areas0']))
    kept = out['area_kept']
    d0, d1 = img0.copy(), img1.copy()
    for k, (b0, b1) in enumerate(zip(out['areas0'], out['areas1'])):
        th = 4 if kept[k] else 1
        for img, b in ((d0, b0), (d1, b1)):
            cv2.rectangle(img, (int(b[0]), int(b[1])), (int(b[2]) - 1, int(b[3]) - 1),
                          cols[k], th, cv2.LINE_AA)
    canvas = draw_matches(d0, d1, np.zeros((0, 2)), np.zeros((0, 2)), text=[
        f'{label}: {len(out["areas0"])} area pairs ({args.area_matcher}), '
        f'{int(kept.sum())} kept (thick) after the geometric filter'])
    p_am = save_image(outdir / 'area_matches.png', canvas)
    # 3. point matches, A2PM above bare
    rows = []
    for title, res in (('A2PM-' + args.area_matcher.upper(), out), ('bare matcher', bare)):
        k0 = np.asarray(res['kpts0'], np.float64)
        k1 = np.asarray(res['kpts1'], np.float64)
        if T is not None and K0 is not None:
            # ground truth known: colour by the true epipolar error
            from vision_sparse.evaluation.functional.pose import symmetric_epipolar_distance
            err = symmetric_epipolar_distance(k0, k1, T, K0, K1) if len(k0) else np.zeros(0)
            inl = err < 5e-4
            lines = [f'{title}: {len(k0)} matches, {int(inl.sum())} correct (green: '
                     f'epipolar error < 5e-4 under the ground-truth pose, '
                     f'{100 * inl.mean() if len(inl) else 0:.0f} %)']
            res_pose = pose_text(res, T) if res is out else None
            if res_pose:
                lines.append(res_pose)
        else:
            inl = inlier_mask(k0, k1, K0, K1)
            lines = [f'{title}: {len(k0)} matches, {int(inl.sum())} inliers (green)']
        rows.append(draw_matches(img0, img1, k0, k1, inlier_mask=inl, max_lines=600,
                                 text=lines))
    p_pm = save_image(outdir / 'point_matches.png', make_grid(rows, ncols=1))
    print(f'{label}: {len(a0)} / {len(a1)} areas, {len(out["areas0"])} area pairs, '
          f'{int(kept.sum())} kept, {len(out["kpts0"])} A2PM matches vs {len(bare["kpts0"])} '
          f'bare, {dt:.1f} s')
    for key in ('reason', 'fallback'):  # a failure / A2PM's full-image fallback
        if out.get(key):
            print(f'note: {out[key]}')
    if pose_text(out, T):
        print(pose_text(out, T))
    for p in (p_areas, p_am, p_pm):
        print(f'wrote {p}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
