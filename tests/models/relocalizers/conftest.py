"""Shared FaVoR fixtures: one small synthetic scene run through every stage once.

Rendering, tracking (real XFeat features), triangulation and a short batched
training are done once per test package and reused by the stage tests, so that the
whole FaVoR test set stays well under two minutes on two CPU cores.
"""
import numpy as np
import pytest

from vision_sparse.models.relocalizers import (BatchedLandmarkTrainer, DenseFeatureExtractor,
                                               FeatureTracker, GlobalRetrieval, LandmarkMap,
                                               LandmarkTriangulator)
from vision_sparse.testing.synthetic_scene import synthetic_relocalization_scene
from vision_sparse.utils import torch_threads

MIN_TRACK = 5


@pytest.fixture(scope='package')
def scene():
    """8 mapping frames and 2 queries of the textured room, 320 x 240 (no anti-aliasing)."""
    return synthetic_relocalization_scene(num_train=8, num_test=2, image_size=(320, 240),
                                          supersample=1, seed=0)


@pytest.fixture(scope='package')
def extractor():
    return DenseFeatureExtractor(backend='xfeat', max_keypoints=1024)


@pytest.fixture(scope='package')
def tracks(scene, extractor):
    tracker = FeatureTracker(extractor, min_track_length=MIN_TRACK, show_progress=False)
    return tracker.run(scene['train'])


@pytest.fixture(scope='package')
def triangulated(tracks):
    return LandmarkTriangulator(min_track_length=MIN_TRACK, show_progress=False)(tracks)


@pytest.fixture(scope='package')
def trained(triangulated):
    trainer = BatchedLandmarkTrainer(iterations=40, rays_per_landmark=32, max_landmarks=100,
                                     show_progress=False)
    return trainer(triangulated['tracks'], triangulated['points'], triangulated['box_min'],
                   triangulated['box_max'])


@pytest.fixture(scope='package')
def landmark_map(tracks, trained, extractor):
    retrieval = GlobalRetrieval().build(tracks.retrieval_descriptors, tracks.poses,
                                        tracks.frame_names)
    return LandmarkMap(trained['centers'], trained['box_min'], trained['box_max'],
                       trained['density'], trained['features'], extractor.feature_type,
                       psnr=trained['psnr'], num_obs=trained['num_obs'],
                       retrieval=retrieval.state_dict())


def surface_error(scene, points: np.ndarray, cam_centres: np.ndarray) -> np.ndarray:
    """Distance of each point to the true surface along the ray from a camera (metres)."""
    errs = []
    for X, c in zip(points, cam_centres):
        d = X - c
        t = scene['scene'].raycast(c, d[None])[0]
        errs.append(abs(1 - t) * np.linalg.norm(d))
    return np.array(errs)


@pytest.fixture(scope='package', autouse=True)
def _one_thread():
    """One torch thread: deterministic, and faster than two on a shared 2-core CPU."""
    with torch_threads(1):
        yield
