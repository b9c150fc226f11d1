#!/usr/bin/env python
"""FaVoR relocalization demo: one picture per query.

Left: the query image with its matched landmarks (green = PnP inliers, red =
outliers), every landmark projected with the estimated pose (blue) and with the
initial (retrieved) pose (yellow). Right: a top view of the map (grey points),
the mapping cameras (grey), the true query pose (green), the initial pose
(yellow) and the estimate (red), with the errors per iteration.

By default the map is built on the synthetic room (a couple of minutes on a
CPU, reduced training) unless ``--map`` exists::

    python demo/reloc_demo.py --out work_dirs/demo/favor
    python demo/reloc_demo.py --config configs/favor/favor_xfeat-g3_100it_7scenes-stairs.py \\
        --map work_dirs/favor_xfeat-g3_100it_7scenes-stairs/landmark_map.pth
"""
import argparse
import os.path as osp
import time

import cv2
import numpy as np

from vision_sparse.evaluation.functional.relocalization import absolute_pose_error
from vision_sparse.utils import register_all_modules
from vision_sparse.visualization import (draw_points, make_grid, put_text_block,
                                         save_image)

DEFAULT_CONFIG = 'configs/favor/favor_xfeat-g3_100it_synthetic.py'


def top_view(lmap, result, gt, train_poses, size=480):
    """A bird's-eye (x, y) picture of landmarks and cameras, RGB uint8."""
    img = np.full((size, size, 3), 255, np.uint8)
    cams = [gt[:3, 3], result['T_init'][:3, 3]]
    if result['T_c2w'] is not None:
        cams.append(result['T_c2w'][:3, 3])
    pts = np.concatenate([lmap.centers.numpy()[:, :2], np.array(cams)[:, :2],
                          train_poses[:, :3, 3][:, :2]])
    lo, hi = pts.min(0), pts.max(0)
    span = max(float((hi - lo).max()), 1e-6) * 1.1
    centre = (lo + hi) / 2

    def px(xy):
        p = (np.asarray(xy)[..., :2] - centre) / span * (size - 40) + size / 2
        return np.stack([p[..., 0], size - p[..., 1]], -1)

    img = draw_points(img, px(lmap.centers.numpy()), color=(170, 170, 170), radius=1)

    def camera(img, T, colour, r=6):
        c = px(T[:3, 3])
        ahead = px(T[:3, 3] + T[:3, 2] * span * 0.08)
        cv2.arrowedLine(img, tuple(int(v) for v in c), tuple(int(v) for v in ahead), colour, 2,
                        cv2.LINE_AA, tipLength=0.3)
        cv2.circle(img, tuple(int(v) for v in c), r, colour, -1, cv2.LINE_AA)
        return img

    for T in train_poses:
        img = camera(img, T, (120, 120, 120), r=3)
    img = camera(img, gt, (0, 170, 0))
    img = camera(img, result['T_init'], (230, 180, 0))
    if result['T_c2w'] is not None:
        img = camera(img, result['T_c2w'], (220, 0, 0), r=4)
    legend = put_text_block(np.full((56, size, 3), 255, np.uint8),
                            ['top view (x, y)   green: true   yellow: initial',
                             'red: estimate   grey: mapping cameras, landmarks'],
                            origin=(5, 5), font_scale=0.42, color=(0, 0, 0), bg_color=None)
    return np.concatenate([img, legend], 0)


def query_view(image, K, lmap, result):
    """The query with matches and projected landmarks, RGB uint8."""
    img = image.copy()
    size = (image.shape[1], image.shape[0])
    init = lmap.render_view(result['T_init'], K, size)
    img = draw_points(img, init['uv'].numpy(), color=(240, 200, 0), radius=2)
    if result['T_c2w'] is not None:
        est = lmap.render_view(result['T_c2w'], K, size)
        img = draw_points(img, est['uv'].numpy(), color=(0, 90, 255), radius=2)
    m = result['matches']
    if len(m['keypoints']):
        inl = m['inliers']
        img = draw_points(img, m['keypoints'][~inl], color=(255, 0, 0), radius=3, thickness=1)
        img = draw_points(img, m['keypoints'][inl], color=(0, 220, 0), radius=3, thickness=1)
    return img


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='work_dirs/demo/favor')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--map', help='landmark map file (built and saved here if missing)')
    parser.add_argument('--num-queries', type=int, default=2)
    parser.add_argument('--full', action='store_true',
                        help="train with the config's schedule (default: a reduced one)")
    args = parser.parse_args(argv)
    register_all_modules(init_default_scope=True)
    from mmengine.config import Config
    from vision_sparse.registry import DATASETS, MODELS
    cfg = Config.fromfile(args.config)
    model_cfg = cfg.model.to_dict()
    map_path = args.map or osp.join(args.out, 'landmark_map.pth')
    model_cfg['map_path'] = map_path
    if not args.full and 'mapping' in model_cfg:
        model_cfg['mapping'].setdefault('trainer', {}).update(iterations=60, max_landmarks=300)
    model = MODELS.build(model_cfg)
    t0 = time.time()
    lmap = model.ensure_map()
    print(f'[favor demo] map: {len(lmap)} landmarks ({time.time() - t0:.0f} s), {map_path}')
    test_cfg = dict(cfg.test_dataloader.dataset)
    test_cfg['lazy_init'] = False
    dataset = DATASETS.build(test_cfg)
    train_poses = (model.retrieval.poses.numpy() if model.retrieval is not None
                   else np.zeros((0, 4, 4)))
    n = min(args.num_queries, len(dataset))
    for i in np.linspace(0, len(dataset) - 1, n).round().astype(int):
        frame = dataset.load_frame(int(i))
        res = model.relocalize(frame['image'], frame['K'])
        gt = frame['T_c2w']
        lines = [f'{frame["name"]}: ' + ('localized' if res['success'] else 'NOT localized')]
        e = absolute_pose_error(res['T_init'], gt)
        lines.append(f'initial ({res["init_name"]}): {e[0] * 100:.1f} cm {e[1]:.2f} deg')
        for k, it in enumerate(res['iterations']):
            e = absolute_pose_error(it['T_c2w'], gt)
            lines.append(f'iter {k + 1}: {e[0] * 100:.2f} cm {e[1]:.3f} deg '
                         f'({it["num_inliers"]}/{it["num_matches"]} inliers)')
        if res['stop_reason']:  # the failure, or why later iterations did not run
            lines.append(res['stop_reason'][:60])
        left = put_text_block(query_view(frame['image'], frame['K'], lmap, res), lines,
                              origin=(5, 5), font_scale=0.4)
        right = top_view(lmap, res, gt, train_poses, size=max(frame['image'].shape[0], 320))
        name = frame['name'].replace('/', '_')
        path = save_image(osp.join(args.out, f'favor_reloc_{name}.png'),
                          make_grid([left, right], 2))
        print(f'[favor demo] {path}: ' + '; '.join(lines[1:]))


if __name__ == '__main__':
    main()
