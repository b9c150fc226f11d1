"""Camera / pose helpers against hand-made rotations and real poses."""
import math

import cv2
import numpy as np
import pytest
import torch

from vision_sparse.structures.cameras import (
    camera_to_world, essential_from_pose, invert_pose, is_rigid_transform,
    make_intrinsics, project_points, quaternion_to_rotation, relative_pose, scale_intrinsics,
    rotation_angle_error_deg, rotation_to_quaternion, skew, transform_points,
    translation_angle_error_deg, translation_error, unproject,
    world_to_camera)
from vision_sparse.testing.data import shared_data_root

DATA = shared_data_root()
SCANNET = None if DATA is None else DATA / 'matching' / 'scannet_pairs'
COLMAP = None if DATA is None else (DATA / 'relocalization' /
                                    'maupertuis_colmap' / 'reconstruction')
needs_scannet = pytest.mark.skipif(
    SCANNET is None or not SCANNET.is_dir(),
    reason='ScanNet pairs (../shared/data/matching/scannet_pairs) not found; '
    'set VISION_SPARSE_DATA')
needs_colmap = pytest.mark.skipif(
    COLMAP is None or not COLMAP.is_dir(),
    reason='COLMAP model (../shared/data/relocalization/maupertuis_colmap) '
    'not found; set VISION_SPARSE_DATA')


def rodrigues(axis, deg: float) -> np.ndarray:
    """Rotation of ``deg`` degrees about ``axis`` (right-hand rule)."""
    k = np.asarray(axis, np.float64)
    k = k / np.linalg.norm(k)
    a = math.radians(deg)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(a) * kx + (1 - math.cos(a)) * kx @ kx


def pose(rot: np.ndarray, t) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rot, t
    return out


# ---------------------------------------------------------------- rotations
@pytest.mark.parametrize('deg', [30.0, 1e-4, 90.0, 179.0, 180.0])
def test_rotation_angle_error_known_angles(deg):
    r = rodrigues([1, 2, 3], deg)
    err = rotation_angle_error_deg(np.eye(3), r)
    assert float(err) == pytest.approx(deg, rel=1e-9, abs=1e-9)
    r0 = rodrigues([0, 1, 0], 40.0)
    assert float(rotation_angle_error_deg(r0, r0 @ r)) == pytest.approx(
        deg, rel=1e-9, abs=1e-9)
    terr = rotation_angle_error_deg(torch.eye(3, dtype=torch.float64),
                                    torch.from_numpy(r))
    assert isinstance(terr, torch.Tensor)
    assert float(terr) == pytest.approx(deg, rel=1e-9, abs=1e-9)


def test_rotation_error_batched_and_poses():
    rs = np.stack([rodrigues([0, 0, 1], d) for d in (10, 20, 30)])
    errs = rotation_angle_error_deg(np.eye(3)[None].repeat(3, 0), rs)
    np.testing.assert_allclose(errs, [10, 20, 30], atol=1e-9)
    # 4x4 poses: only the rotation part counts
    assert float(rotation_angle_error_deg(
        pose(np.eye(3), [1, 2, 3]), pose(rs[2], [0, 0, 0]))) == \
        pytest.approx(30.0)


def test_quaternions():
    q = rotation_to_quaternion(rodrigues([0, 0, 1], 90))
    np.testing.assert_allclose(q, [math.sqrt(0.5), 0, 0, math.sqrt(0.5)],
                               atol=1e-12)
    rng = np.random.default_rng(0)
    qs = rng.normal(size=(200, 4))
    qs[:4] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]  # 180s
    rots = quaternion_to_rotation(qs)
    assert np.all([is_rigid_transform(r, 1e-9) for r in rots])
    back = rotation_to_quaternion(rots)
    expected = qs / np.linalg.norm(qs, axis=1, keepdims=True)
    expected *= np.where(expected[:, :1] < 0, -1, 1)
    np.testing.assert_allclose(back, expected, atol=1e-9)
    assert np.all(back[:, 0] >= 0)
    with pytest.raises(ValueError, match='q'):
        quaternion_to_rotation(np.zeros(4))
    with pytest.raises(ValueError, match='q'):
        quaternion_to_rotation(np.zeros(3) + 1)


def test_quaternions_torch_batched_and_sign():
    rng = np.random.default_rng(4)
    qs = rng.normal(size=(2, 5, 4))
    rots = quaternion_to_rotation(torch.from_numpy(qs).float())
    assert isinstance(rots, torch.Tensor) and rots.dtype == torch.float32
    assert rots.shape == (2, 5, 3, 3)
    np.testing.assert_allclose(rots.numpy(), quaternion_to_rotation(qs), atol=1e-6)
    back = rotation_to_quaternion(rots.double())
    assert back.shape == (2, 5, 4) and back.dtype == torch.float64
    unit = qs / np.linalg.norm(qs, axis=-1, keepdims=True)
    unit *= np.where(unit[..., :1] < 0, -1, 1)
    np.testing.assert_allclose(back.numpy(), unit, atol=1e-6)
    # the rotation matrix of (w, x, y, z) = (cos a/2, sin a/2 * axis): 60 deg about z
    np.testing.assert_allclose(quaternion_to_rotation([math.cos(math.pi / 6), 0, 0,
                                                       math.sin(math.pi / 6)]),
                               rodrigues([0, 0, 1], 60), atol=1e-12)
    # 180 degrees (w = 0): the first non-zero of x, y, z is positive
    q = rotation_to_quaternion(np.diag([-1.0, 1.0, -1.0]))
    np.testing.assert_allclose(q, [0, 0, 1, 0], atol=1e-12)
    assert quaternion_to_rotation(np.zeros((0, 4))).shape == (0, 3, 3)
    assert rotation_to_quaternion(torch.zeros(0, 3, 3)).shape == (0, 4)


def test_scale_intrinsics_keeps_pixel_centres():
    K = make_intrinsics(500.0, 480.0, 319.5, 239.5)
    half = scale_intrinsics(K, 0.5)
    # the image centre stays the image centre: 640 x 480 -> 320 x 240
    np.testing.assert_allclose(half, [[250, 0, 159.5], [0, 240, 119.5], [0, 0, 1]])
    # a pixel's corner u = -0.5 maps to -0.5 at any scale; the input is not modified
    K2 = scale_intrinsics(K, 2.0, 3.0)
    assert K2[0, 2] == (319.5 + 0.5) * 2 - 0.5 and K2[1, 1] == 1440.0 and K[0, 0] == 500.0
    with pytest.raises(ValueError, match='scale'):
        scale_intrinsics(K, 0.0)
    with pytest.raises(ValueError, match='K'):
        scale_intrinsics(np.eye(4), 1.0)


# ---------------------------------------------------------------- poses
def test_relative_pose_and_inverse():
    t0 = pose(rodrigues([1, 0, 0], 20), [0.5, -1.0, 2.0])
    t1 = pose(rodrigues([0, 1, 1], -35), [-2.0, 0.3, 1.0])
    rng = np.random.default_rng(1)
    xw = rng.normal(size=(50, 3))
    x0 = world_to_camera(t0, xw)
    x1 = world_to_camera(t1, xw)
    t01 = relative_pose(t0, t1)
    np.testing.assert_allclose(transform_points(t01, x0), x1, atol=1e-12)
    np.testing.assert_allclose(camera_to_world(t0, x0), xw, atol=1e-12)
    np.testing.assert_allclose(invert_pose(t0) @ t0, np.eye(4), atol=1e-12)
    assert invert_pose(t0[:3]).shape == (3, 4)
    assert is_rigid_transform(t01)
    # the relative rotation angle of two hand-made rotations
    ra, rb = rodrigues([0, 0, 1], 10), rodrigues([0, 0, 1], 40)
    rel = relative_pose(pose(ra, [0, 0, 0]), pose(rb, [0, 0, 0]))
    assert float(rotation_angle_error_deg(np.eye(3), rel[:3, :3])) == \
        pytest.approx(30.0)
    # torch in -> torch out, batched
    tt = relative_pose(torch.from_numpy(np.stack([t0, t1])),
                       torch.from_numpy(np.stack([t1, t0])))
    assert isinstance(tt, torch.Tensor) and tt.shape == (2, 4, 4)
    torch.testing.assert_close(tt[0], torch.from_numpy(t01))


def test_transform_points_variants():
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(transform_points(np.eye(3) * 2, x), 2 * x)
    proj = np.eye(4)
    proj[3] = [0, 0, 1, 0]  # divide by z
    np.testing.assert_allclose(transform_points(proj, x), x / 3)
    assert transform_points(np.eye(4), np.zeros((0, 3))).shape == (0, 3)
    with pytest.raises(ValueError, match='X'):
        transform_points(np.eye(4), np.zeros((3, 2)))
    with pytest.raises(ValueError, match='T'):
        transform_points(np.eye(2), x)


def test_translation_errors():
    assert float(translation_angle_error_deg(
        np.array([1.0, 0, 0]), np.array([0, 2.0, 0]))) == pytest.approx(90)
    opp = translation_angle_error_deg(np.array([1.0, 0, 0]),
                                      np.array([-3.0, 0, 0]))
    assert float(opp) == pytest.approx(180)
    assert float(translation_angle_error_deg(
        np.array([1.0, 0, 0]), np.array([-3.0, 0, 0]),
        ignore_sign=True)) == pytest.approx(0)
    t = np.array([1.0, 1.0, 0])
    t30 = rodrigues([0, 0, 1], 30) @ t * 5
    assert float(translation_angle_error_deg(t30, t)) == pytest.approx(30)
    assert float(translation_angle_error_deg(-t30, t,
                                             ignore_sign=True)) == \
        pytest.approx(30)
    assert np.isnan(translation_angle_error_deg(np.zeros(3), t))
    assert float(translation_error(np.array([1.0, 2, 3]),
                                   np.array([1.0, 2, 5]))) == 2.0
    batch = translation_error(torch.zeros(4, 3), torch.ones(4, 3))
    torch.testing.assert_close(batch, torch.full((4, ), math.sqrt(3)))


def test_rigid_skew_essential():
    t = pose(rodrigues([1, 1, 0], 50), [0.2, -0.1, 0.5])
    assert is_rigid_transform(t)
    assert not is_rigid_transform(t * 1.01)
    bad = t.copy()
    bad[3, 0] = 0.5
    assert not is_rigid_transform(bad)
    flags = is_rigid_transform(np.stack([t, t * 2]))
    assert flags.tolist() == [True, False]
    v, u = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.7, -1.1])
    np.testing.assert_allclose(skew(v) @ u, np.cross(v, u), atol=1e-12)
    e = essential_from_pose(t)
    rng = np.random.default_rng(2)
    x0 = rng.uniform(-1, 1, (30, 3)) + [0, 0, 4]
    x1 = transform_points(t, x0)
    n0, n1 = x0 / x0[:, 2:], x1 / x1[:, 2:]
    np.testing.assert_allclose(np.einsum('ni,ij,nj->n', n1, e, n0), 0,
                               atol=1e-12)
    s = np.linalg.svd(e, compute_uv=False)
    assert s[0] == pytest.approx(s[1]) and s[2] < 1e-12


# ---------------------------------------------------------------- projection
def test_intrinsics_project_unproject():
    k = make_intrinsics(500.0, 480.0, 320.0, 240.0)
    assert isinstance(k, np.ndarray) and k.shape == (3, 3)
    np.testing.assert_allclose(k, [[500, 0, 320], [0, 480, 240], [0, 0, 1]])
    kt = make_intrinsics(torch.tensor([500.0, 600.0]), 480.0, 320.0, 240.0)
    assert isinstance(kt, torch.Tensor) and kt.shape == (2, 3, 3)
    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, (40, 3)) + [0, 0, 6]
    uv, depth = project_points(k, x)
    np.testing.assert_allclose(depth, x[:, 2])
    np.testing.assert_allclose(unproject(k, uv, depth), x, atol=1e-12)
    np.testing.assert_allclose(unproject(k, uv[:1], 2.0)[0, 2], 2.0)
    # same as OpenCV, with and without distortion
    dist = np.array([-0.2, 0.05, 0.001, -0.002, 0.01])
    for d in (None, dist):
        ref, _ = cv2.projectPoints(x, np.zeros(3), np.zeros(3), k,
                                   np.zeros(5) if d is None else d)
        ours, _ = project_points(k, x, dist_coeffs=d)
        np.testing.assert_allclose(ours, ref[:, 0], atol=1e-6)
    uv_t, d_t = project_points(torch.from_numpy(k), torch.from_numpy(x))
    assert isinstance(uv_t, torch.Tensor)
    e_uv, e_d = project_points(k, np.zeros((0, 3)))
    assert e_uv.shape == (0, 2) and e_d.shape == (0, )
    with pytest.raises(ValueError, match='K'):
        project_points(np.eye(4), x)
    with pytest.raises(ValueError, match='fx'):
        make_intrinsics(0.0, 1.0, 0.0, 0.0)


# ---------------------------------------------------------------- real data
@needs_scannet
def test_scannet_pairs_ground_truth():
    lines = (SCANNET / 'scannet_sample_pairs_with_gt.txt').read_text()
    rows = [ln.split() for ln in lines.splitlines() if ln.strip()]
    assert len(rows) == 15
    angles = []
    for row in rows:
        t01 = np.array(row[22:38], np.float64).reshape(4, 4)
        assert is_rigid_transform(t01, atol=1e-3)
        angles.append(float(rotation_angle_error_deg(np.eye(3),
                                                     t01[:3, :3])))
        e = essential_from_pose(t01)
        s = np.linalg.svd(e, compute_uv=False)
        assert s[0] == pytest.approx(s[1], rel=2e-3) and s[2] < 1e-3 * s[0]
        # inverse pose composes to identity
        np.testing.assert_allclose(invert_pose(t01) @ t01, np.eye(4),
                                   atol=1e-3)
    # README: "hard wide-baseline pairs (30-172 deg rotation)"
    assert 29 < min(angles) and max(angles) < 173


@needs_colmap
def test_colmap_quaternion_order_by_reprojection():
    """COLMAP images.txt (w, x, y, z) + translation reproject the 3-D points."""
    cam = [ln.split() for ln in (COLMAP / 'cameras.txt').read_text()
           .splitlines() if ln and not ln.startswith('#')][0]
    f, cx, cy = map(float, cam[4:7])
    k = make_intrinsics(f, f, cx, cy)
    pts3d = {}
    for ln in (COLMAP / 'points3D.txt').read_text().splitlines():
        if ln and not ln.startswith('#'):
            v = ln.split()
            pts3d[int(v[0])] = np.array(v[1:4], np.float64)
    lines = [ln for ln in (COLMAP / 'images.txt').read_text().splitlines()
             if not ln.startswith('#')]
    errors = []
    for head, obs in zip(lines[0::2], lines[1::2]):
        v = head.split()
        rot = quaternion_to_rotation(np.array(v[1:5], np.float64))
        t_w2c = pose(rot, np.array(v[5:8], np.float64))
        o = np.array(obs.split(), np.float64).reshape(-1, 3)
        o = o[o[:, 2] >= 0]
        xw = np.stack([pts3d[int(i)] for i in o[:, 2]])
        uv, depth = project_points(k, world_to_camera(t_w2c, xw))
        assert np.all(depth > 0)
        errors.append(np.linalg.norm(uv - o[:, :2], axis=1))
    err = np.concatenate(errors)
    assert len(err) > 1000 and np.median(err) < 0.5  # README: ~0.25 px


def test_decompose_projection_recovers_intrinsics_and_extrinsics():
    """P = s K [R | t] split back into K (positive diagonal, K[2, 2] = 1) and a rigid T,
    whatever the scale's sign; a singular P is a ValueError."""
    from scipy.spatial.transform import Rotation

    from vision_sparse.structures.cameras import decompose_projection
    rng = np.random.default_rng(0)
    for scale in (1.0, 2.5, -0.7):
        K = np.array([[1266.4, 0.3, 816.3], [0.0, 1260.1, 491.5], [0.0, 0.0, 1.0]])
        T = np.eye(4)
        T[:3, :3] = Rotation.from_rotvec(rng.normal(size=3)).as_matrix()
        T[:3, 3] = rng.normal(size=3) * 3
        P = np.eye(4)
        P[:3] = scale * K @ T[:3]
        K2, T2 = decompose_projection(P)
        np.testing.assert_allclose(K2, K, atol=1e-8)
        np.testing.assert_allclose(T2, T, atol=1e-10)
    with pytest.raises(ValueError, match='singular'):
        decompose_projection(np.zeros((3, 4)))
    with pytest.raises(ValueError, match='P must be'):
        decompose_projection(np.eye(3))
