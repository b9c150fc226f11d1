"""DIOR-R (``JPEGImages*/`` + ``Annotations/Oriented Bounding Boxes/*.xml``) as an mmdet dataset."""
import glob
import os.path as osp
from typing import Dict, List

import numpy as np

from vision_sparse.datasets.formats.dior import load_dior_xml
from vision_sparse.registry import DATASETS

from .base import OrientedDetDataset

__all__ = ['DIORDataset', 'DIOR_CLASSES']

#: the 20 categories of DIOR / DIOR-R (lower case; matched case-insensitively)
DIOR_CLASSES = ('airplane', 'airport', 'baseballfield', 'basketballcourt', 'bridge', 'chimney',
                'expressway-service-area', 'expressway-toll-station', 'dam', 'golffield',
                'groundtrackfield', 'harbor', 'overpass', 'ship', 'stadium', 'storagetank',
                'tenniscourt', 'trainstation', 'vehicle', 'windmill')


@DATASETS.register_module()
class DIORDataset(OrientedDetDataset):
    """DIOR-R folder.

    Layout: ``data_root/<img_dir>/<id>.jpg`` (``img_dir=None``: the first existing
    ``JPEGImages-trainval``, ``JPEGImages-test``, ``JPEGImages``, ``JPEGImage`` folder
    holding the image) and ``data_root/ann_dir/<id>.xml`` (``<robndbox>`` corners, see
    :func:`~vision_sparse.datasets.formats.load_dior_xml`). ``ann_file``: an optional
    image-set file (``ImageSets/Main/trainval.txt``: one id a line). Class names are
    matched case-insensitively (the files spell ``Expressway-Service-area``). When
    the XML records an image size different from the image's, the sample is
    refused unless ``ann_image_size`` / ``label_scale`` is given.

    Instances as :class:`~vision_sparse.datasets.oriented.DOTADataset`.
    ``angle_agnostic_classes`` lists the rotation-agnostic classes of the official
    PointOBB DIOR config.
    """

    METAINFO = dict(
        classes=DIOR_CLASSES,
        palette=None,
        angle_agnostic_classes=('chimney', 'golffield', 'storagetank', 'windmill'))
    ann_suffix = '.xml'

    def __init__(self, *args, img_dir=None, ann_dir='Annotations/Oriented Bounding Boxes',
                 ignore_case=True, **kwargs) -> None:
        super().__init__(*args, img_dir=img_dir, ann_dir=ann_dir, ignore_case=ignore_case,
                         **kwargs)

    def list_samples(self) -> List[Dict]:
        """As the base class, with the image looked up in every ``JPEGImages*`` folder
        when ``img_dir`` is None."""
        if self.img_dir is not None:
            return super().list_samples()
        dirs = sorted(glob.glob(osp.join(self.data_root or '', 'JPEGImage*')))
        self.img_dir = dirs[0] if dirs else 'JPEGImages'
        samples = super().list_samples()
        for sample in samples:
            for folder in dirs:
                path = self._find_image(folder, sample['img_id'])
                if path is not None:
                    sample['img_path'] = path
                    break
        self.img_dir = None
        return samples

    def read_objects(self, ann_path: str) -> Dict:
        """Read one DIOR-R XML (a malformed file raises: the sample is skipped)."""
        ann = load_dior_xml(ann_path)
        meta = ann['meta']
        size = ((meta['width'], meta['height'])
                if meta.get('width') and meta.get('height') else None)
        return dict(polys=ann['polys'].astype(np.float64), labels=ann['labels'],
                    difficult=ann['difficult'], skipped=[], size=size)
