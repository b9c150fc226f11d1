"""SparseFusion: the real nuScenes keyframe (6 cameras + LiDAR) drawn, checked and detected.

Writes to ``--out``:

* ``gt_cameras.png``  the six views (2 x 3: FRONT_LEFT, FRONT, FRONT_RIGHT / BACK_LEFT,
  BACK, BACK_RIGHT) with the ground-truth boxes drawn by exactly the code that draws
  predictions (class colours, class tags);
* ``gt_bev.png``      the sweep seen from above (points coloured by height, +y forward up)
  with the same boxes, heading marks and the ego marker; ``gt_bev_zoom.png`` the 40 x 40 m
  around the car at 4 cm a pixel;
* ``gt_points.ply``, ``gt_boxes.ply``  the sweep and the boxes for a 3-D viewer;
* ``pred_cameras.png``, ``pred_bev.png``, ``pred_points.ply``, ``pred_boxes.ply``  with a
  SparseFusion config (``--config``, default the tiny synthetic fusion config; an untrained
  model without ``--checkpoint``): its boxes over the ground truth (green);
* ``synthetic_*``     with ``--synthetic``: one synthetic multi-modal scene drawn the same way.

It also prints a geometry self-check and asserts it: for every ground-truth box whose
centre projects into a camera, the LiDAR points inside the box, projected into that camera,
must fall inside the 2-D hull of the box's projected corners (fraction >= 0.95), and the
projected box centres must agree with the ``center_2d`` that nuScenes' own converter stored
for each camera (median error < 1 px).

Usage::

    python demo/fusion_demo.py [--info PKL] [--index 0] [--config CFG] [--checkpoint CKPT]
        [--synthetic] [--out DIR]
"""
import argparse
import os.path as osp
from pathlib import Path
from typing import Dict, Optional

import cv2
import numpy as np

from vision_sparse.datasets.formats.nuscenes_info import load_det3d_info, load_points
from vision_sparse.testing.data import shared_data_path
from vision_sparse.visualization import (draw_camera_mosaic, draw_fusion_bev, save_fusion_ply,
                                         save_image)

DEFAULT_CONFIG = 'configs/sparsefusion/sparsefusion_tiny-fusion_600it_synthetic-fusion.py'
BEV_RANGE = (-50, -50, -5, 50, 50, 3)
ZOOM_RANGE = (-20, -20, -5, 20, 20, 3)  # a close-up: boxes on their point clusters


def default_info() -> Optional[Path]:
    """The shared nuScenes keyframe's info pickle, or None."""
    folder = shared_data_path('lidar_camera', 'nuscenes')
    return next(iter(sorted(folder.glob('*.pkl'))), None) if folder else None


def load_frame(info: str, index: int = 0) -> Dict:
    """Sample ``index`` of an info pickle with its sweep and RGB views loaded.

    Returns:
        dict: the :func:`load_det3d_info` sample plus ``points`` ``(N, C)`` float32,
        ``images`` ``{camera: (H, W, 3) RGB}``, ``lidar2img`` ``{camera: (4, 4)}``.
    """
    sample = load_det3d_info(info)[index]
    points = load_points(sample['lidar_path'], sample['num_pts_feats'] or None)
    cams = {n: c for n, c in sample['cameras'].items() if c.get('img_path')}
    images = {n: cv2.cvtColor(cv2.imread(c['img_path']), cv2.COLOR_BGR2RGB)
              for n, c in cams.items()}
    return dict(sample, points=points, images=images,
                lidar2img={n: c['lidar2img'] for n, c in cams.items()})


def geometry_check(frame: Dict, min_depth: float = 0.5) -> Dict:
    """Ground-truth boxes against the cameras and the LiDAR sweep.

    For every (box, camera) with the box's gravity centre in front of the camera
    (``depth > min_depth``) and projecting inside the image ("visible"):

    * ``corners_inside``: whether all 8 projected corners lie in the image;
    * the LiDAR points inside the 3-D box, projected into the camera, tested against the
      convex hull of the projected corners (1 px tolerance) -- counted when every corner is
      in front of the camera;
    * the projected centre is compared with the nearest ``center_2d`` of the camera's
      ``cam_instances`` (written by nuScenes' converter from the same annotation; those
      include boxes seen only in part, whose centre may project outside the image, so each
      ``center_2d`` is matched with the nearest projected centre of any box ahead).

    Returns:
        dict: ``visible`` (pairs), ``all_corners_inside`` (pairs), ``points_in_boxes``
        (points counted), ``points_in_hull`` (of those), ``hull_fraction``,
        ``center_errors_px`` (np.ndarray), ``per_camera`` ``{camera: (visible, points,
        in hull)}``.
    """
    boxes = frame['gt_bboxes_3d']
    corners = boxes.corners.numpy()  # (M, 8, 3)
    centres = boxes.gravity_center.numpy()
    inside = boxes.points_in_boxes(frame['points'][:, :3]).numpy()  # (N, M)
    out = dict(visible=0, all_corners_inside=0, points_in_boxes=0, points_in_hull=0,
               center_errors_px=[], per_camera={})
    for cam, img in frame['images'].items():
        P = np.asarray(frame['lidar2img'][cam], np.float64)
        h, w = img.shape[:2]

        def proj(xyz):
            uvw = xyz @ P[:3, :3].T + P[:3, 3]
            return uvw[..., :2] / uvw[..., 2:3], uvw[..., 2]

        uv_c, z_c = proj(centres)
        vis = (z_c > min_depth) & (uv_c[:, 0] >= 0) & (uv_c[:, 0] <= w - 1) & (
            uv_c[:, 1] >= 0) & (uv_c[:, 1] <= h - 1)
        n_pts = n_in = 0
        for i in np.flatnonzero(vis):
            uv, z = proj(corners[i])
            out['visible'] += 1
            out['all_corners_inside'] += int((z > 0).all() and (uv[:, 0] >= -0.5).all()
                                             and (uv[:, 0] <= w - 0.5).all()
                                             and (uv[:, 1] >= -0.5).all()
                                             and (uv[:, 1] <= h - 0.5).all())
            pts = frame['points'][inside[:, i], :3].astype(np.float64)
            if not len(pts) or (z <= min_depth).any():
                continue
            hull = cv2.convexHull(uv.astype(np.float32))
            puv, pz = proj(pts)
            ok = [cv2.pointPolygonTest(hull, (float(u), float(v)), True) >= -1.0
                  for u, v in puv[pz > 0]]
            n_pts += len(pts)
            n_in += int(np.sum(ok))
        out['points_in_boxes'] += n_pts
        out['points_in_hull'] += n_in
        out['per_camera'][cam] = (int(vis.sum()), n_pts, n_in)
        c2d = (frame.get('cam_instances') or {}).get(cam, {}).get('centers_2d')
        front = z_c > 0
        if c2d is not None and len(c2d) and front.any():
            d = np.linalg.norm(c2d[:, None] - uv_c[front][None], axis=-1)  # (K, boxes ahead)
            out['center_errors_px'].extend(d.min(1).tolist())
    out['center_errors_px'] = np.asarray(out['center_errors_px'], np.float64)
    out['hull_fraction'] = out['points_in_hull'] / max(out['points_in_boxes'], 1)
    return out


def print_check(check: Dict) -> None:
    """The self-check as a table."""
    print(f"{'camera':<18}{'visible':>8}{'points':>8}{'in hull':>9}")
    for cam, (v, n, k) in check['per_camera'].items():
        print(f'{cam:<18}{v:>8}{n:>8}{k:>9}')
    errs = check['center_errors_px']
    print(f"visible (box, camera) pairs: {check['visible']}, all 8 corners inside the image: "
          f"{check['all_corners_inside']}")
    print(f"LiDAR points in visible boxes projecting inside the box's 2-D hull: "
          f"{check['points_in_hull']}/{check['points_in_boxes']} = {check['hull_fraction']:.4f}")
    if len(errs):
        print(f'projected centres vs nuScenes center_2d ({len(errs)} camera instances): '
              f'median {np.median(errs):.3f} px, max {errs.max():.3f} px')


def draw_frame(out: Path, prefix: str, frame: Dict, boxes, labels, scores=None,
               class_names=None, gt_boxes=None) -> None:
    """``<prefix>_cameras.png``, ``<prefix>_bev.png`` and the ``.ply`` pair."""
    kw = dict(boxes=boxes, labels=labels, scores=scores, class_names=class_names,
              gt_boxes=gt_boxes)
    files = [save_image(out / f'{prefix}_cameras.png',
                        draw_camera_mosaic(frame['images'], frame['lidar2img'], **kw))]
    for name, rng, res in (('bev', BEV_RANGE, 0.1), ('bev_zoom', ZOOM_RANGE, 0.04)):
        files.append(save_image(out / f'{prefix}_{name}.png',
                                draw_fusion_bev(frame['points'], point_cloud_range=rng,
                                                resolution=res, **kw)))
    files += list(save_fusion_ply(out, frame['points'], boxes, gt_boxes, labels=labels,
                                  prefix=prefix).values())
    for f in files:
        print(f'  wrote {f}')


def run_model(out: Path, frame: Dict, config: str, checkpoint: Optional[str]) -> None:
    """Detect with a SparseFusion config and draw its boxes over the ground truth."""
    from vision_sparse.apis import FusionInferencer
    if not osp.isfile(config):
        print(f'no predictions: config {config} does not exist (the SparseFusion configs '
              'are written with the detector); drawing the ground truth only')
        return
    if checkpoint is None:
        print('note: no --checkpoint, the model is untrained: its boxes are meaningless '
              '(train it with tools/train.py first)')
    inferencer = FusionInferencer(config, checkpoint)
    result = inferencer(frame, points=frame['points'], images=frame['images'],
                        lidar2img=frame['lidar2img'])
    print(f"model ({result['modality']}): success={result['success']} "
          f"{result['reason'] or ''} {result['num_boxes']} boxes, "
          f"{result['timings'].get('total', 0):.2f} s")
    draw_frame(out, 'pred', frame, result['bboxes_3d'], result['labels'], result['scores'],
               list(inferencer.classes) or None, gt_boxes=frame['gt_bboxes_3d'])


def draw_synthetic(out: Path, seed: int = 0) -> None:
    """One synthetic multi-modal scene drawn like the keyframe (ground truth)."""
    try:
        from vision_sparse.datasets.synthetic.multimodal import make_fusion_scene
    except ImportError as exc:
        print(f'--synthetic: the synthetic multi-modal scenes are not available ({exc})')
        return
    info = default_info()
    rig = None
    if info is not None:
        from vision_sparse.datasets.synthetic.multimodal import load_camera_rig
        rig = load_camera_rig(info)
    scene = make_fusion_scene(seed=seed, camera_rig=rig, image_scale=0.25)
    frame = dict(scene, images={n: np.ascontiguousarray(im[..., ::-1])  # BGR -> RGB
                                for n, im in scene['images'].items()},
                 lidar2img={n: c['lidar2img'] for n, c in scene['cameras'].items()})
    print(f"synthetic scene: {len(frame['points'])} points, {len(frame['gt_bboxes_3d'])} boxes")
    draw_frame(out, 'synthetic', frame, frame['gt_bboxes_3d'], frame['gt_labels_3d'],
               class_names=list(frame['class_names']))
    print_check(geometry_check(frame))


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--info', default=None, help='info .pkl (default: the shared nuScenes '
                        'keyframe, ../shared/data/lidar_camera/nuscenes/*.pkl)')
    parser.add_argument('--index', type=int, default=0, help='sample of the pickle')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='a SparseFusion config')
    parser.add_argument('--checkpoint', help='trained weights for --config')
    parser.add_argument('--no-model', action='store_true', help='draw the ground truth only')
    parser.add_argument('--synthetic', action='store_true',
                        help='also draw one synthetic multi-modal scene')
    parser.add_argument('--min-hull-fraction', type=float, default=0.95,
                        help='the geometry check fails below this fraction')
    parser.add_argument('--out', default='work_dirs/demo/fusion')
    args = parser.parse_args(argv)
    out = Path(args.out)
    info = args.info or default_info()
    if info is None:
        raise SystemExit('no info pickle: pass --info (the shared nuScenes keyframe is not '
                         'there)')
    frame = load_frame(info, args.index)
    print(f"{Path(info).name} [{args.index}]: {len(frame['points'])} points, "
          f"{len(frame['gt_bboxes_3d'])} ground-truth boxes, cameras {list(frame['images'])}")
    labels = frame['gt_labels_3d']
    draw_frame(out, 'gt', frame, frame['gt_bboxes_3d'], labels,
               class_names=list(frame['class_names']))
    check = geometry_check(frame)
    print_check(check)
    assert check['visible'] > 0, 'no ground-truth box is visible in any camera'
    assert check['hull_fraction'] >= args.min_hull_fraction, (
        f"only {check['hull_fraction']:.3f} of the in-box LiDAR points project inside their "
        'box in the image: the calibration or the box convention is wrong')
    errs = check['center_errors_px']
    assert not len(errs) or np.median(errs) < 1.0, (
        f'projected box centres are {np.median(errs):.2f} px (median) from nuScenes '
        'center_2d: the calibration or the box centre convention is wrong')
    if not args.no_model:
        run_model(out, frame, args.config, args.checkpoint)
    if args.synthetic:
        draw_synthetic(out)
    return check


if __name__ == '__main__':
    main()
