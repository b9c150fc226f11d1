import numpy as np
import pytest
import torch

from vision_sparse.models.relocalizers import (FeatureTracker, build_landmark_map, check_frame,
                                               mutual_nn_match)

from .conftest import MIN_TRACK


def test_mutual_nn_match_exact():
    gen = torch.Generator().manual_seed(0)
    d0 = torch.nn.functional.normalize(torch.randn(20, 16, generator=gen), dim=-1)
    perm = torch.randperm(20, generator=gen)
    d1 = d0[perm]
    m = mutual_nn_match(d0, d1, 0.99)
    assert m.shape == (20, 3)
    assert torch.equal(perm[m[:, 1].long()], m[:, 0].long())
    assert torch.allclose(m[:, 2], torch.ones(20), atol=1e-5)
    # a threshold above every similarity leaves nothing; empty inputs give (0, 3)
    assert mutual_nn_match(d0, d1, 1.5).shape == (0, 3)
    assert mutual_nn_match(d0[:0], d1, 0.5).shape == (0, 3)


def test_tracks_follow_the_true_surface(scene, tracks):
    """Every observation of a track images the same 3-D surface point (ground truth)."""
    assert tracks.num_frames == len(scene['train'])
    lengths = tracks.lengths()
    assert tracks.num_tracks > 100 and (lengths >= MIN_TRACK).all()
    assert tracks.patches.shape[1:] == (7, 7, 64)
    # patch centres are the keypoint descriptors
    assert torch.allclose(tracks.patches[:, 3, 3].float(), tracks.descriptors, atol=2e-3)
    K = scene['K']
    off = tracks.offsets().tolist()
    errs = []
    for t in range(tracks.num_tracks):
        s, e = off[t], off[t + 1]
        T0 = tracks.poses[tracks.frame_ids[s]].numpy()
        ray = T0[:3, :3] @ np.linalg.inv(K) @ np.r_[tracks.uv[s].double().numpy(), 1]
        X = T0[:3, 3] + scene['scene'].raycast(T0[:3, 3], ray[None])[0] * ray
        for m in range(s + 1, e):
            w2c = np.linalg.inv(tracks.poses[tracks.frame_ids[m]].numpy())
            Xc = w2c[:3, :3] @ X + w2c[:3, 3]
            errs.append(np.linalg.norm((K @ Xc)[:2] / Xc[2] - tracks.uv[m].double().numpy()))
    errs = np.array(errs)
    assert np.median(errs) < 1.5
    assert (errs < 2.0).mean() > 0.6


def test_check_frame_bad_inputs(scene):
    f = dict(scene['train'][0])
    with pytest.raises(ValueError, match='no pose'):
        check_frame(dict(f, T_c2w=None), 3)
    bad = f['T_c2w'].copy()
    bad[:3, :3] *= 1.1
    with pytest.raises(ValueError, match='not a rigid transform'):
        check_frame(dict(f, T_c2w=bad), 3)
    with pytest.raises(ValueError, match='depth must have the image size'):
        check_frame(dict(f, depth=np.zeros((10, 10), np.float32)), 3)
    with pytest.raises(ValueError, match='K must be'):
        check_frame(dict(f, K=np.zeros((3, 3))), 3)
    # a nearly-rigid pose (7-Scenes files are orthonormal to ~1e-4) is accepted and cleaned
    noisy = f['T_c2w'].copy()
    noisy[:3, :3] += 1e-4
    out = check_frame(dict(f, T_c2w=noisy), 0)
    R = out['T_c2w'][:3, :3]
    assert np.allclose(R.T @ R, np.eye(3), atol=1e-12)


def test_tracker_reports_the_bad_frame(scene, extractor):
    frames = [scene['train'][0], dict(scene['train'][1], T_c2w=None)]
    with pytest.raises(ValueError, match=r'frame 1 .*no pose'):
        FeatureTracker(extractor, show_progress=False).run(frames)


def test_too_few_tracks_is_a_clear_error(scene, extractor):
    # two frames can never make a track of length 5
    with pytest.raises(ValueError, match='too few tracks'):
        build_landmark_map(scene['train'][:2], extractor, show_progress=False, log=lambda s: None)
    with pytest.raises(ValueError, match='frames is empty'):
        FeatureTracker(extractor, show_progress=False).run([])
