"""Fixtures of the oriented-dataset tests: the shared ``oriented`` samples and tiny folders."""
import shutil

import pytest

from vision_sparse.testing.data import shared_data_path


@pytest.fixture(scope='session')
def oriented_root():
    """The shared ``oriented`` sample folder (skip when absent)."""
    root = shared_data_path('oriented')
    if root is None:
        pytest.skip('shared sample data oriented/ not found (set $VISION_SPARSE_DATA)')
    return root


def write_dota(root, name, lines, image=None, size=(64, 48)):
    """A one-sample DOTA folder: ``root/images/name.png`` + ``root/labelTxt/name.txt``."""
    import cv2
    import numpy as np
    (root / 'images').mkdir(parents=True, exist_ok=True)
    (root / 'labelTxt').mkdir(parents=True, exist_ok=True)
    if image is None:
        image = np.full((size[1], size[0], 3), 90, np.uint8)
    cv2.imwrite(str(root / 'images' / f'{name}.png'), image)
    (root / 'labelTxt' / f'{name}.txt').write_text('\n'.join(lines) + '\n')
    return root


def copy_sample(src_root, dst_root, img_rel, ann_rel):
    """Copy one image + label file keeping their sub-folders."""
    for rel in (img_rel, ann_rel):
        (dst_root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src_root / rel, dst_root / rel)
    return dst_root


@pytest.fixture
def mm_log():
    """Messages logged to mmengine's current logger during the test (list of str)."""
    import logging

    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    messages = []
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = lambda record: messages.append(f'{record.levelname}: {record.getMessage()}')
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)
