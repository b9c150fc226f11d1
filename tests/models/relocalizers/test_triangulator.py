import numpy as np
import pytest
import torch

from vision_sparse.models.relocalizers import LandmarkTriangulator, TrackSet, triangulate_dlt
from vision_sparse.testing.synthetic_scene import look_at_pose

from .conftest import MIN_TRACK, surface_error

K = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])


def _cameras(n=6, baseline=1.0):
    return np.stack([look_at_pose([x, 0, 0], [x, 3, 0]) for x in np.linspace(0, baseline, n)])


def _trackset(points, poses, noise=0.0, depth=False, seed=0, flip=()):
    """Exact (or noisy) projections of every point into every camera."""
    rng = np.random.default_rng(seed)
    tid, fid, uv, z = [], [], [], []
    for t, X in enumerate(points):
        for f, T in enumerate(poses):
            w2c = np.linalg.inv(T)
            Xc = w2c[:3, :3] @ X + w2c[:3, 3]
            p = (K @ Xc)[:2] / Xc[2] + noise * rng.normal(size=2)
            tid.append(t), fid.append(f), uv.append(p), z.append(Xc[2] if depth else 0.0)
    M, C = len(tid), 8
    desc = torch.nn.functional.normalize(torch.randn(len(points), C,
                                                     generator=torch.Generator().manual_seed(seed)),
                                         dim=-1)[torch.tensor(tid)]
    return TrackSet(torch.tensor(tid), torch.tensor(fid), torch.tensor(np.array(uv)).float(),
                    torch.zeros(M, 7, 7, C), desc, torch.tensor(z).float(),
                    torch.from_numpy(poses), torch.from_numpy(np.stack([K] * len(poses))),
                    torch.tensor([[320, 240]] * len(poses)), [str(i) for i in range(len(poses))],
                    [], 'test', 3).sorted()


def test_dlt_is_exact():
    poses = _cameras(2)
    X = np.array([0.3, 2.5, -0.2])
    w2c = [np.linalg.inv(T)[:3] for T in poses]
    xn = [(P[:, :3] @ X + P[:, 3])[:2] / (P[:, :3] @ X + P[:, 3])[2] for P in w2c]
    assert np.allclose(triangulate_dlt(w2c[0], w2c[1], xn[0], xn[1]), X, atol=1e-9)


def test_dlt_is_batched_and_flags_points_at_infinity():
    rng = np.random.default_rng(3)
    poses = _cameras(3)
    pts = rng.uniform([-0.5, 2.0, -0.5], [1.5, 4.0, 0.5], (5, 3))
    P0 = np.linalg.inv(poses[0])[:3]
    P1 = np.linalg.inv(poses[2])[:3]

    def norm_proj(P, X):
        Xc = X @ P[:, :3].T + P[:, 3]
        return Xc[:, :2] / Xc[:, 2:]

    x0, x1 = norm_proj(P0, pts), norm_proj(P1, pts)
    batched = triangulate_dlt(np.broadcast_to(P0, (5, 3, 4)), np.broadcast_to(P1, (5, 3, 4)), x0,
                              x1)
    assert batched.shape == (5, 3) and np.allclose(batched, pts, atol=1e-9)
    one_by_one = np.stack([triangulate_dlt(P0, P1, a, b) for a, b in zip(x0, x1)])
    assert np.array_equal(batched, one_by_one)
    # parallel rays (the same direction seen from two centres) meet at infinity
    assert np.isinf(triangulate_dlt(P0, P1, np.zeros(2), np.zeros(2))).all()
    with pytest.raises(ValueError, match='x1'):
        triangulate_dlt(P0, P1, x0[0], np.zeros(3))


def test_noise_free_points_are_recovered_exactly():
    rng = np.random.default_rng(1)
    pts = rng.uniform([-0.5, 2.0, -0.5], [1.5, 4.0, 0.5], (30, 3))
    out = LandmarkTriangulator(min_track_length=4)(_trackset(pts, _cameras()))
    assert out['stats']['landmarks'] == 30
    assert np.allclose(out['points'].numpy(), pts, atol=1e-6)
    # FaVoR's box: half side = 2 * patch_half * (nearest camera distance) / f
    d = np.linalg.norm(pts[:, None] - _cameras()[None, :, :3, 3], axis=-1).min(1)
    half = (out['box_max'] - out['box_min']).numpy() / 2
    assert np.allclose(half, (2 * 3 * d / 300.0)[:, None], rtol=1e-6)


def test_outlier_observation_is_rejected():
    pts = np.array([[0.2, 3.0, 0.1], [0.8, 2.5, -0.3]])
    tracks = _trackset(pts, _cameras(), noise=0.3, seed=2)
    tracks.uv[2] += torch.tensor([25.0, -18.0])  # one gross outlier on track 0
    out = LandmarkTriangulator(min_track_length=4, max_reprojection_error=2.0)(tracks)
    assert out['stats']['landmarks'] == 2
    assert np.linalg.norm(out['points'].numpy() - pts, axis=1).max() < 0.01
    assert out['tracks'].uv.shape[0] == 2 * 6 - 1  # only the outlier is gone


def test_points_behind_the_cameras_are_dropped():
    # a point behind every camera projects to valid pixels but must not become a landmark
    pts = np.array([[0.5, 3.0, 0.0], [0.5, -3.0, 0.2]])
    out = LandmarkTriangulator(min_track_length=4)(_trackset(pts, _cameras()))
    assert out['stats']['landmarks'] == 1
    assert out['stats']['behind camera'] == 1
    assert np.allclose(out['points'][0].numpy(), pts[0], atol=1e-6)


def test_small_baseline_needs_depth():
    pts = np.array([[0.1, 3.0, 0.0], [-0.3, 2.0, 0.4]])
    poses = _cameras(5, baseline=0.005)  # 5 mm: below the 1 degree triangulation angle
    out = LandmarkTriangulator(min_track_length=4)(_trackset(pts, poses))
    assert out['stats']['small baseline'] == 2 and out['stats']['landmarks'] == 0
    assert out['points'].shape == (0, 3)
    with_depth = LandmarkTriangulator(min_track_length=4, use_depth=True)(
        _trackset(pts, poses, depth=True))
    assert with_depth['stats']['landmarks'] == 2
    assert np.allclose(with_depth['points'].numpy(), pts, atol=1e-4)


def test_merging_joins_split_tracks():
    pts = np.array([[0.3, 3.0, 0.0]])
    tracks = _trackset(pts, _cameras(8))
    # the tracker lost the point after 4 frames: two tracks with the same descriptor
    tracks.track_ids[4:] = 1
    tri = LandmarkTriangulator(min_track_length=6)
    merged = tri.merge_tracks(tracks)
    assert merged.num_tracks == 1 and merged.lengths().tolist() == [8]
    assert tri(tracks)['stats']['landmarks'] == 1


def test_scene_points_within_one_centimetre(scene, triangulated):
    """Real XFeat tracks + triangulation recover the synthetic surface (< 1 cm median)."""
    tk = triangulated['tracks']
    assert triangulated['stats']['landmarks'] > 100
    first = tk.offsets()[:-1]
    centres = tk.poses[tk.frame_ids[first], :3, 3].numpy()
    err = surface_error(scene, triangulated['points'].numpy(), centres)
    assert np.median(err) < 0.01
    assert np.percentile(err, 75) < 0.03
    assert (tk.lengths() >= MIN_TRACK).all()


def test_bad_options():
    with pytest.raises(ValueError, match='unknown'):
        LandmarkTriangulator(min_len=3)
    with pytest.raises(ValueError, match='min_track_length'):
        LandmarkTriangulator(min_track_length=1)
