"""DOTA-v1.0 (``images/`` + ``labelTxt/`` polygons) as an mmdet dataset."""
from typing import Dict

import numpy as np

from vision_sparse.datasets.formats.dota import load_dota_txt
from vision_sparse.registry import DATASETS

from .base import OrientedDetDataset

__all__ = ['DOTADataset', 'DOTA_CLASSES']

#: the 15 categories of DOTA-v1.0, in the official order
DOTA_CLASSES = ('plane', 'baseball-diamond', 'bridge', 'ground-track-field', 'small-vehicle',
                'large-vehicle', 'ship', 'tennis-court', 'basketball-court', 'storage-tank',
                'soccer-ball-field', 'roundabout', 'harbor', 'swimming-pool', 'helicopter')


@DATASETS.register_module()
class DOTADataset(OrientedDetDataset):
    """DOTA-style folder: ``data_root/img_dir/<id>.png`` with ``data_root/ann_dir/<id>.txt``
    (``x1 y1 ... x4 y4 category difficult`` lines, see
    :func:`~vision_sparse.datasets.formats.load_dota_txt`).

    Instances: ``bbox`` ``(cx, cy, w, h, theta)`` 'le90' radians (minimum-area
    rectangle of the polygon, :func:`poly2rbox`), ``bbox_label``, ``ignore_flag``
    (``difficult``) and ``point`` ``(x, y)`` (drawn from the box, or read from
    ``point_dir``). Arguments: see :class:`OrientedDetDataset`; the classes default to
    DOTA-v1.0 (``metainfo=dict(classes=...)`` replaces them). Tiles written by
    :func:`~vision_sparse.datasets.oriented.split_dota_folder` load the same way.

    ``angle_agnostic_classes`` lists the classes whose angle is undefined (the
    rotation-agnostic classes of the official PointOBB DOTA config).
    """

    METAINFO = dict(
        classes=DOTA_CLASSES,
        palette=None,
        angle_agnostic_classes=('baseball-diamond', 'storage-tank', 'roundabout'))

    def read_objects(self, ann_path: str) -> Dict:
        """Read one ``labelTxt`` file (malformed lines skipped unless ``strict``)."""
        ann = load_dota_txt(ann_path, on_error='raise' if self.strict else 'skip')
        return dict(polys=ann['polys'].astype(np.float64), labels=ann['labels'],
                    difficult=ann['difficult'], skipped=ann['meta'].get('skipped', []),
                    size=None)
