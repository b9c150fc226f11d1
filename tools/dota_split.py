#!/usr/bin/env python
"""Cut a DOTA-style folder into overlapping tiles (DOTA_devkit's ImgSplit rules).

``SRC/images/*.png`` (+ ``SRC/labelTxt/*.txt`` when present) become
``OUT/images/<id>__<tile>__<x>___<y>.png`` and ``OUT/labelTxt/<same>.txt``: objects with at
least ``--iof-thr`` of their area inside a tile are kept (clipped, and marked difficult
when cut unless ``--keep-cut-flag``). See :mod:`vision_sparse.datasets.oriented.tiling`.

Examples::

    python tools/dota_split.py data/DOTA/train data/split_ss_dota/train --tile 1024 --gap 200
    python tools/dota_split.py data/DOTA/val data/split_ms_dota/val --rates 0.5 1.0 1.5
"""
import argparse
import time

from vision_sparse.datasets.oriented.tiling import split_dota_folder


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Split DOTA images into overlapping tiles')
    parser.add_argument('src', help='source folder holding images/ (and labelTxt/)')
    parser.add_argument('out', help='output folder (images/ and labelTxt/ are created)')
    parser.add_argument('--tile', type=int, default=1024, help='tile side, px (default 1024)')
    parser.add_argument('--gap', type=int, default=200, help='overlap of tiles, px (default 200)')
    parser.add_argument('--rates', type=float, nargs='+', default=[1.0],
                        help='resize factors applied before cutting (default 1.0)')
    parser.add_argument('--iof-thr', type=float, default=0.7,
                        help='smallest fraction of an object inside a tile to keep it')
    parser.add_argument('--keep-cut-flag', action='store_true',
                        help='keep the difficult flag of cut objects (DOTA_devkit) instead of '
                        'marking them difficult')
    parser.add_argument('--skip-empty', action='store_true', help='write no tile without objects')
    parser.add_argument('--ext', default='.png', help='tile image suffix (default .png)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    names = split_dota_folder(args.src, args.out, tile=args.tile, gap=args.gap,
                              rates=args.rates, iof_thr=args.iof_thr,
                              cut_difficult=not args.keep_cut_flag, ext=args.ext,
                              skip_empty=args.skip_empty)
    print(f'wrote {len(names)} tiles to {args.out} in {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
