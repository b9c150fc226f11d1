#!/usr/bin/env python
"""Run a method on image files from its config: ``python -m vision_sparse.apis`` under another name.

Examples::

    python tools/infer.py match configs/matcher/matcher_sift_test_scannet-sample.py A.jpg B.jpg \\
        --K0 577.6,577.6,319.5,239.5 --K1 577.6,577.6,319.5,239.5 --out work_dirs/match.png
    python tools/infer.py reloc configs/favor/favor_xfeat-g3_100it_synthetic.py MAP.pth Q.png \\
        --K 320,320,159.5,119.5
    python tools/infer.py attention \
        configs/framepainter/framepainter_matching-attention_300it_synthetic-warp.py SRC.png TGT.png \
        --checkpoint work_dirs/framepainter_matching-attention_300it_synthetic-warp/iter_300.pth

See ``python tools/infer.py --help`` and :mod:`vision_sparse.apis`.
"""
import sys

from vision_sparse.apis.__main__ import main

if __name__ == '__main__':
    sys.exit(main())
