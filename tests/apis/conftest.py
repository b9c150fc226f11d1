"""Shared inputs of the inferencer tests: one small synthetic room (exact poses) and a
FaVoR map built on it, made once for the package."""
from pathlib import Path

import numpy as np
import pytest

from vision_sparse.testing.synthetic_scene import synthetic_relocalization_scene
from vision_sparse.utils import torch_threads

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
SIFT_CONFIG = str(CONFIGS / 'matcher' / 'matcher_sift_test_scannet-sample.py')
A2PM_SIFT_CONFIG = str(CONFIGS / 'a2pm' / 'a2pm_sift-mesa-dmesa_test_scannet-sample.py')
FAVOR_CONFIG = str(CONFIGS / 'favor' / 'favor_xfeat-g3_100it_synthetic.py')
TOY_CONFIG = str(CONFIGS / 'toy' / 'toy_linear-sgd_40it_synthetic.py')


@pytest.fixture(scope='package', autouse=True)
def _one_thread():
    """One torch thread: deterministic, and faster than two on a shared 2-core CPU."""
    with torch_threads(1):
        yield


@pytest.fixture(scope='package')
def scene():
    """8 mapping frames and 2 queries of the textured room, 320 x 240."""
    return synthetic_relocalization_scene(num_train=8, num_test=2, image_size=(320, 240),
                                          supersample=1, seed=0)


@pytest.fixture(scope='package')
def pair(scene):
    """Two mapping frames 0.6 m apart with their exact relative pose ``T_0to1``."""
    f0, f1 = scene['train'][0], scene['train'][3]
    T_0to1 = np.linalg.inv(f1['T_c2w']) @ f0['T_c2w']
    return dict(image0=f0['image'], image1=f1['image'], K0=f0['K'], K1=f1['K'], T_0to1=T_0to1)


@pytest.fixture(scope='package')
def pair_files(pair, tmp_path_factory):
    """The pair as PNG files (lossless) and K as a text file."""
    import cv2
    folder = tmp_path_factory.mktemp('pair')
    paths = []
    for i in (0, 1):
        path = folder / f'img{i}.png'
        cv2.imwrite(str(path), pair[f'image{i}'][..., ::-1])
        paths.append(path)
    np.savetxt(folder / 'K.txt', pair['K0'])
    return dict(img0=paths[0], img1=paths[1], K=folder / 'K.txt')


@pytest.fixture(scope='package')
def map_file(scene, tmp_path_factory):
    """A small FaVoR map of the room (XFeat, 40 training iterations, 100 landmarks), saved."""
    from vision_sparse.models.relocalizers import build_landmark_map
    lmap = build_landmark_map(
        scene['train'], dict(type='DenseFeatureExtractor', backend='xfeat', max_keypoints=1024),
        tracker=dict(min_track_length=5), triangulator=dict(min_track_length=5),
        trainer=dict(iterations=40, rays_per_landmark=32, max_landmarks=100),
        show_progress=False, log=lambda line: None)
    path = tmp_path_factory.mktemp('favor') / 'landmark_map.pth'
    lmap.save(str(path))
    return path
