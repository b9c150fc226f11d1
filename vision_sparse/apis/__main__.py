"""Run an inferencer on files and print a JSON summary of its result.

Examples (from the repository root)::

    python -m vision_sparse.apis match configs/matcher/matcher_sift_test_scannet-sample.py \\
        a.jpg b.jpg --K0 577.6,577.6,319.5,239.5 --K1 K1.txt --out work_dirs/match.png
    python -m vision_sparse.apis match configs/a2pm/a2pm_xfeat-mesa-dmesa_test_scannet-sample.py \\
        a.jpg b.jpg --method mesa
    python -m vision_sparse.apis reloc configs/favor/favor_xfeat-g3_100it_synthetic.py \\
        work_dirs/favor_xfeat-g3_100it_synthetic/landmark_map.pth query.png --K 320,320,159.5,119.5
    python -m vision_sparse.apis attention \\
        configs/framepainter/framepainter_matching-attention_300it_synthetic-warp.py \\
        src.jpg tgt.jpg --checkpoint CHECKPOINT --out work_dirs/attention.png
    python -m vision_sparse.apis obb configs/pointobb/pointobb_r50-fpn_24e_dota-v1.py \\
        P0706.png --points 410,300,ship 530,610,harbor --checkpoint CKPT --out work_dirs/obb.png
    python -m vision_sparse.apis fusion configs/sparsefusion/sparsefusion_tiny-fusion_600it_synthetic-fusion.py \
        --info ../shared/data/lidar_camera/nuscenes/n015-2018-07-24-11-22-45+0800.pkl \
        --checkpoint CKPT --out work_dirs/fusion

Intrinsics (``--K0``, ``--K1``, ``--K``): ``fx,fy,cx,cy``, nine numbers (row-major
3x3) or a text file holding either. The exit status is 0 when the result has
``success`` True, 1 otherwise (2 for bad arguments).
"""
import argparse
import json
import os.path as osp
import sys
from typing import Any, Dict, List, Optional

import numpy as np
from mmengine.config import DictAction

__all__ = ['main', 'parse_intrinsics', 'summarize']


def parse_intrinsics(text: Optional[str], name: str) -> Optional[np.ndarray]:
    """``(3, 3)`` intrinsics from ``fx,fy,cx,cy``, nine numbers or a text file of either.

    Raises:
        ValueError: anything else (the message names the argument).
    """
    if text is None:
        return None
    try:
        values = (np.loadtxt(text, dtype=np.float64).reshape(-1) if osp.isfile(text)
                  else np.array([float(v) for v in text.replace(',', ' ').split()]))
    except ValueError as exc:
        raise ValueError(f'{name} must be fx,fy,cx,cy, nine numbers or a text file of them, '
                         f'got {text!r}') from exc
    if values.size == 4:
        fx, fy, cx, cy = values
        return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float64)
    if values.size == 9:
        return values.reshape(3, 3)
    raise ValueError(f'{name} must hold 4 (fx,fy,cx,cy) or 9 numbers, got {values.size}')


def summarize(result: Dict[str, Any], max_size: int = 16) -> Dict[str, Any]:
    """The JSON-friendly part of a result: scalars, strings, timings and small arrays
    (at most ``max_size`` entries, e.g. ``R``, ``t``, ``T_c2w``); big arrays are left out."""
    out = {}
    for key, value in result.items():
        if isinstance(value, (bool, np.bool_)):
            out[key] = bool(value)
        elif isinstance(value, (int, np.integer)):
            out[key] = int(value)
        elif isinstance(value, (float, np.floating)):
            out[key] = float(value)
        elif isinstance(value, str):
            out[key] = value
        elif key == 'timings':
            out[key] = {k: round(float(v), 6) for k, v in value.items()}
        elif isinstance(value, np.ndarray) and value.size <= max_size and value.dtype.kind in 'biuf':
            out[key] = value.tolist()
    return out


def _common(parser: argparse.ArgumentParser,
            out_help: str = 'also draw the result into this .png') -> None:
    parser.add_argument('--checkpoint', help='weights to load (optional)')
    parser.add_argument('--device', help="e.g. 'cpu' or 'cuda' (default: the config's choice)")
    parser.add_argument('--out', help=out_help)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.matcher.resize_max=480')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line: ``match``, ``reloc``, ``attention``, ``obb`` or ``fusion`` with their
    arguments."""
    parser = argparse.ArgumentParser(
        prog='python -m vision_sparse.apis',
        description='Run a vision_sparse method from its config on image files; prints a JSON '
                    'summary of the result (success, reason, timings, outputs).')
    sub = parser.add_subparsers(dest='command', required=True)
    m = sub.add_parser('match', help='match two images (point matcher or A2PM config); the '
                       'relative pose too when --K0 and --K1 are given')
    m.add_argument('config', help='a configs/matcher or configs/a2pm config')
    m.add_argument('img0', help='first image file')
    m.add_argument('img1', help='second image file')
    m.add_argument('--K0', help='intrinsics of img0: fx,fy,cx,cy, 9 numbers or a text file')
    m.add_argument('--K1', help='intrinsics of img1 (same forms)')
    m.add_argument('--method', help="A2PM configs: 'matcher', 'mesa' or 'dmesa' (default: the "
                   'last the config lists)')
    _common(m)
    r = sub.add_parser('reloc', help='camera pose of a query image in a FaVoR landmark map')
    r.add_argument('config', help='a configs/favor config (its extractor built the map)')
    r.add_argument('map', help='landmark map file (tools/favor_build_map.py)')
    r.add_argument('query', help='query image file')
    r.add_argument('--K', required=True, help='intrinsics of the query: fx,fy,cx,cy, 9 numbers '
                   'or a text file')
    _common(r)
    a = sub.add_parser('attention', help='match every token of a target image to a source '
                       'image with FramePainter matching attention (trained: give --checkpoint)')
    a.add_argument('config', help='a configs/framepainter config')
    a.add_argument('src', help='source image file')
    a.add_argument('tgt', help='target image file')
    a.add_argument('--image-size', type=int, nargs=2, metavar=('H', 'W'),
                   help="working size, multiples of the patch size (default: the config's "
                   'test image size)')
    _common(a)
    o = sub.add_parser('obb', help='oriented boxes in an image: one per --points entry (PointOBB '
                       'configs) or every detected object (oriented-detector configs)')
    o.add_argument('config', help='a configs/pointobb config')
    o.add_argument('image', help='image file')
    o.add_argument('--points', nargs='*', default=None, metavar='X,Y[,CLASS]',
                   help='one annotated point per object, pixels; CLASS a name or index '
                   '(default class 0)')
    o.add_argument('--score-thr', type=float, default=0.0, help='drop boxes scoring below')
    _common(o)
    f = sub.add_parser('fusion', help='3-D boxes in one sample of an mmdet3d-style info .pkl '
                       '(LiDAR sweep and/or six cameras, as the config\'s modality says); --out '
                       'DIR gets cameras.png, bev.png and scene_{points,boxes}.ply')
    f.add_argument('config', help='a configs/sparsefusion config')
    f.add_argument('--info', required=True, help='info .pkl (load_det3d_info layout)')
    f.add_argument('--index', type=int, default=0, help='sample of the pickle (default 0)')
    f.add_argument('--score-thr', type=float, default=0.0, help='drop boxes scoring below')
    _common(f, out_help='folder for the pictures and .ply files (ground truth drawn too, '
            'green)')
    return parser.parse_args(argv)


def _run_fusion(args: argparse.Namespace):
    """The ``fusion`` command: result and a writer of its pictures into ``--out``."""
    from vision_sparse.datasets.formats.nuscenes_info import load_det3d_info
    from .fusion import FusionInferencer
    samples = load_det3d_info(args.info)
    if not 0 <= args.index < len(samples):
        raise ValueError(f'--index must be in [0, {len(samples)}) for {args.info}, '
                         f'got {args.index}')
    sample = samples[args.index]
    inferencer = FusionInferencer(args.config, args.checkpoint, args.device, args.cfg_options)
    result = inferencer(sample, score_thr=args.score_thr)

    def write(out_dir: str) -> List[str]:
        from pathlib import Path

        from vision_sparse.visualization import save_fusion_ply, save_image
        out = Path(out_dir)
        pics = inferencer.draw(result, sample)
        files = [str(save_image(out / f'{k}.png', v)) for k, v in pics.items()]
        given = inferencer.sample_inputs(sample)
        files += [str(p) for p in save_fusion_ply(
            out, given['points'], result['bboxes_3d'], sample.get('gt_bboxes_3d'),
            labels=result['labels']).values()]
        return files

    return result, write


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command, print the JSON summary (and write ``--out``).

    Returns:
        int: 0 when the result has ``success``, 1 when not, 2 for bad arguments
        (the error goes to stderr).
    """
    args = parse_args(argv)
    try:
        if args.command == 'match':
            from .match import MatchInferencer
            K0, K1 = parse_intrinsics(args.K0, '--K0'), parse_intrinsics(args.K1, '--K1')
            inferencer = MatchInferencer(args.config, args.checkpoint, args.device,
                                         args.cfg_options, method=args.method)
            result = inferencer(args.img0, args.img1, K0=K0, K1=K1)
            picture = (lambda: inferencer.draw(result, args.img0, args.img1))
        elif args.command == 'attention':
            from .attention import AttentionInferencer
            inferencer = AttentionInferencer(args.config, args.checkpoint, args.device,
                                             args.cfg_options, image_size=args.image_size)
            result = inferencer(args.src, args.tgt)
            picture = (lambda: inferencer.draw(result, args.src, args.tgt))
        elif args.command == 'fusion':
            result, write = _run_fusion(args)
        elif args.command == 'obb':
            from .obb import OBBInferencer, parse_points
            inferencer = OBBInferencer(args.config, args.checkpoint, args.device,
                                       args.cfg_options)
            result = inferencer(args.image, points=args.points, score_thr=args.score_thr)
            picture = (lambda: inferencer.draw(
                result, args.image,
                points=parse_points(args.points, classes=inferencer.classes)[0]
                if args.points else None))
        else:
            from .reloc import RelocInferencer
            K = parse_intrinsics(args.K, '--K')
            inferencer = RelocInferencer(args.config, args.map, args.checkpoint, args.device,
                                         args.cfg_options)
            result = inferencer(args.query, K)
            picture = (lambda: inferencer.draw(result, args.query))
    except (ValueError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    summary = summarize(result)
    if args.command == 'fusion':
        names = list(result['class_names'])
        summary['boxes_per_class'] = {n: names.count(n) for n in sorted(set(names))}
        if args.out:
            summary['files'] = write(args.out)
    elif args.out:
        from vision_sparse.visualization import save_image
        summary['picture'] = str(save_image(args.out, picture()))
    print(json.dumps(summary, indent=2))
    return 0 if result['success'] else 1


if __name__ == '__main__':
    sys.exit(main())
