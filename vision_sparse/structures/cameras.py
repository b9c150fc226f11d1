"""Pinhole camera, pose and pose-error helpers (torch tensors or numpy arrays).

Conventions:

* Camera frame: x right, y down, z forward (OpenCV / COLMAP). Units of
  translations and points are whatever the poses use (metres for ScanNet,
  7-Scenes, nuScenes, KITTI).
* A pose ``T_a2b`` is a 4x4 (or 3x4) rigid transform with
  ``X_b = R @ X_a + t``. ``T_w2c`` ("world-to-camera", COLMAP's ``images.txt``)
  maps world points into the camera; ``T_c2w = invert_pose(T_w2c)`` is the
  camera pose in the world (7-Scenes ``pose.txt``).
* ``T_0to1`` maps camera-0 points to camera-1 points (ScanNet / LoFTR
  ``T_0to1``), so ``x1^T E x0 = 0`` with ``E = [t]_x R`` for normalised image
  coordinates.
* Quaternions are ``(w, x, y, z)`` (COLMAP order), unit norm, returned with
  ``w >= 0`` (converted by :class:`scipy.spatial.transform.Rotation`, which
  orders them ``(x, y, z, w)``).

Every function accepts ``torch.Tensor`` or ``np.ndarray`` and returns the same
kind (dtype kept; integer inputs become float). Leading batch dimensions are
supported where documented. Bad shapes raise ``ValueError`` naming the argument.
"""
from typing import Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

ArrayLike = Union[Tensor, np.ndarray]

__all__ = [
    'make_intrinsics', 'check_intrinsics', 'scale_intrinsics', 'invert_pose', 'relative_pose', 'transform_points',
    'project_points', 'unproject', 'world_to_camera', 'camera_to_world',
    'rotation_angle_error_deg', 'translation_angle_error_deg',
    'translation_error', 'is_rigid_transform', 'skew', 'essential_from_pose',
    'quaternion_to_rotation', 'rotation_to_quaternion', 'decompose_projection'
]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _t(x, name: str) -> Tuple[Tensor, bool]:
    """``(float tensor, was_numpy)``; lists/scalars count as numpy."""
    if isinstance(x, Tensor):
        t, is_np = x, False
    elif isinstance(x, np.ndarray):
        t, is_np = torch.from_numpy(np.ascontiguousarray(x)), True
    elif isinstance(x, (list, tuple, float, int, np.floating, np.integer)):
        t, is_np = torch.as_tensor(np.asarray(x, dtype=np.float64)), True
    else:
        raise TypeError(f'{name} must be a Tensor or ndarray, '
                        f'got {type(x).__name__}')
    if not t.is_floating_point():
        t = t.to(torch.float32 if not is_np else torch.float64)
    return t, is_np


def _out(t: Tensor, is_np: bool) -> ArrayLike:
    return t.numpy() if is_np else t


def _check_mat(t: Tensor, name: str, shapes: Tuple[Tuple[int, int], ...],
               batched: bool = True) -> None:
    ok = t.dim() >= 2 and tuple(t.shape[-2:]) in shapes and (
        batched or t.dim() == 2)
    if not ok:
        want = ' or '.join(f'(..., {a}, {b})' if batched else f'({a}, {b})'
                           for a, b in shapes)
        raise ValueError(f'{name} must have shape {want}, '
                         f'got {tuple(t.shape)}')


def _check_vec(t: Tensor, name: str, dim: int = 3) -> None:
    if t.dim() < 1 or t.shape[-1] != dim:
        raise ValueError(f'{name} must have shape (..., {dim}), '
                         f'got {tuple(t.shape)}')


def _to4x4(t: Tensor) -> Tensor:
    if t.shape[-2:] == (4, 4):
        return t
    bottom = torch.zeros(*t.shape[:-2], 1, 4, dtype=t.dtype, device=t.device)
    bottom[..., 0, 3] = 1
    return torch.cat([t, bottom], dim=-2)


def _common(a: Tensor, b: Tensor) -> Tuple[Tensor, Tensor]:
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(device=a.device, dtype=dtype)


# --------------------------------------------------------------------------
# intrinsics and poses
# --------------------------------------------------------------------------
def make_intrinsics(fx, fy, cx, cy, s: float = 0.0) -> ArrayLike:
    """Pinhole intrinsic matrix ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``.

    Args:
        fx, fy (float | Tensor | np.ndarray): focal lengths, pixels; scalars
            or ``(B,)`` arrays.
        cx, cy (float | Tensor | np.ndarray): principal point, pixels.
        s (float): skew (0 for all cameras in shared/data).

    Returns:
        Tensor | np.ndarray: ``(3, 3)`` or ``(B, 3, 3)``; a Tensor if any input
        is a Tensor, else a float64 numpy array.

    Raises:
        ValueError: if a focal length is not positive or shapes differ.
    """
    as_torch = any(isinstance(v, Tensor) for v in (fx, fy, cx, cy))
    vals = [torch.as_tensor(v, dtype=torch.float64) if not isinstance(
        v, Tensor) else v for v in (fx, fy, cx, cy)]
    dtype = vals[0].dtype if vals[0].is_floating_point() else torch.float64
    for v in vals:
        if v.is_floating_point():
            dtype = torch.promote_types(dtype, v.dtype)
    try:
        fx_, fy_, cx_, cy_ = torch.broadcast_tensors(
            *[v.to(dtype) for v in vals])
    except RuntimeError as err:
        raise ValueError('fx, fy, cx, cy must be scalars or arrays of one '
                         f'shape: {err}') from None
    if fx_.dim() > 1:
        raise ValueError(f'fx, fy, cx, cy must be scalars or (B,), '
                         f'got shape {tuple(fx_.shape)}')
    if (fx_ <= 0).any() or (fy_ <= 0).any():
        raise ValueError('fx and fy must be > 0')
    k = torch.zeros(*fx_.shape, 3, 3, dtype=dtype, device=fx_.device)
    k[..., 0, 0], k[..., 1, 1] = fx_, fy_
    k[..., 0, 1] = s
    k[..., 0, 2], k[..., 1, 2] = cx_, cy_
    k[..., 2, 2] = 1
    return k if as_torch else k.numpy()



def scale_intrinsics(K: ArrayLike, sx: float, sy: Optional[float] = None) -> np.ndarray:
    """Intrinsics of an image resized by ``(sx, sy)`` (new size = old size x scale).

    Pixel centres are at integer coordinates, so the principal point maps as
    ``c' = (c + 0.5) * s - 0.5``; focal lengths scale by ``s``.

    Args:
        K (array): (3, 3) intrinsics.
        sx (float): horizontal scale factor (> 0).
        sy (float, optional): vertical scale factor; ``sx`` when omitted.

    Returns:
        np.ndarray: (3, 3) float64 scaled intrinsics (a new array).
    """
    sy = sx if sy is None else sy
    if not (sx > 0 and sy > 0):
        raise ValueError(f'scale factors must be > 0, got sx={sx}, sy={sy}')
    K = np.array(K, np.float64, copy=True)
    if K.shape != (3, 3):
        raise ValueError(f'K must have shape (3, 3), got {K.shape}')
    K[0, 0] *= sx
    K[0, 1] *= sx
    K[1, 1] *= sy
    K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return K


#: Default tolerance of :func:`invert_pose` / :func:`relative_pose` on
#: ``R^T R = I``, ``det R = 1`` and the last row ``(0, 0, 0, 1)``: loose enough for
#: poses stored with 6 decimals or in float32, tight enough to refuse scaled,
#: sheared or singular matrices.
RIGID_ATOL = 1e-3


def decompose_projection(P: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """Split a projection ``P = s K [R | t]`` into intrinsics and extrinsics.

    The RQ decomposition of OpenCV (``cv2.decomposeProjectionMatrix``), with the signs
    fixed so that ``K`` has a positive diagonal and ``R`` is a rotation, and the scale
    ``s`` divided out (``K[2, 2] = 1``; ``s = 1`` for ``P = K @ T`` built from
    intrinsics with ``K[2, 2] = 1``, e.g. ``lidar2img = cam2img @ lidar2cam``).

    Args:
        P: ``(3, 4)`` or ``(4, 4)`` (the last row is ignored) projection from a frame
            (e.g. the LiDAR) to pixels.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``K (3, 3)`` and ``T (4, 4)`` (frame -> camera),
        float64, with ``s K @ T[:3] == P[:3]`` up to rounding.

    Raises:
        ValueError: if ``P`` is not ``(3, 4)`` / ``(4, 4)``, not finite, or its left
            ``3 x 3`` block is singular.
    """
    import cv2
    M = np.asarray(P, np.float64)
    if M.shape not in ((3, 4), (4, 4)):
        raise ValueError(f'P must be (3, 4) or (4, 4), got {M.shape}')
    M = M[:3]
    if not np.isfinite(M).all():
        raise ValueError('P must be finite')
    if abs(np.linalg.det(M[:, :3])) <= 1e-12 * max(1.0, np.abs(M[:, :3]).max()) ** 3:
        raise ValueError('P: its left 3 x 3 block is singular (not a pinhole projection)')
    K, R = cv2.decomposeProjectionMatrix(M)[:2]
    S = np.diag(np.sign(np.diag(K)))  # (K S)(S R) = K R, with a positive diagonal
    K, R = K @ S, S @ R
    if np.linalg.det(R) < 0:  # P was given with a negative scale
        R = -R
        K = -K
    scale = K[2, 2]
    K = K / scale
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.linalg.solve(K, M[:, 3] / scale)
    return K, T


def _check_rigid(t: Tensor, name: str, atol: float) -> None:
    """``ValueError`` unless every matrix of ``t`` is a finite rigid transform."""
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f'{name} must be finite (it holds NaN or inf)')
    ok = is_rigid_transform(t, atol=atol)
    if not isinstance(ok, bool):
        ok = bool(torch.as_tensor(ok).all())
    if not ok:
        rot = t[..., :3, :3].reshape(-1, 3, 3).double()
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        ortho = float((rot.transpose(-1, -2) @ rot - eye).abs().max())
        det = torch.linalg.det(rot)
        raise ValueError(f'{name} is not a rigid transform within atol={atol}: '
                         f'max |R^T R - I| = {ortho:.3g}, det R in '
                         f'[{float(det.min()):.3g}, {float(det.max()):.3g}]'
                         + (', last row not (0, 0, 0, 1)' if t.shape[-2] == 4 else '')
                         + ' (pass check=False to apply [R^T | -R^T t] anyway)')


def invert_pose(T: ArrayLike, check: bool = True, atol: float = RIGID_ATOL) -> ArrayLike:
    """Inverse of rigid transforms: ``[R | t]^-1 = [R^T | -R^T t]``.

    Args:
        T (Tensor | np.ndarray): ``(..., 4, 4)`` or ``(..., 3, 4)`` poses.
        check (bool): verify that every matrix is rigid (``R^T R = I``,
            ``det R = 1``, last row ``(0, 0, 0, 1)`` for 4x4) within ``atol``;
            a scaled, sheared, reflected, singular or non-finite matrix raises.
            ``check=False`` is the explicit non-rigid mode: the formula
            ``[R^T | -R^T t]`` is applied to whatever is given (it is the
            inverse only for rigid ``T``; use ``np.linalg.inv`` for a general
            matrix).
        atol (float): tolerance of the rigidity check.

    Returns:
        Tensor | np.ndarray: inverse poses with the input's shape.

    Raises:
        ValueError: for other shapes, or (``check=True``) a matrix that is not
            a finite rigid transform.
    """
    t, is_np = _t(T, 'T')
    _check_mat(t, 'T', ((4, 4), (3, 4)))
    if check:
        _check_rigid(t, 'T', atol)
    rot, trans = t[..., :3, :3], t[..., :3, 3:]
    rot_inv = rot.transpose(-1, -2)
    out = torch.cat([rot_inv, -rot_inv @ trans], dim=-1)
    if t.shape[-2] == 4:
        out = _to4x4(out)
    return _out(out, is_np)


def relative_pose(T0_w2c: ArrayLike, T1_w2c: ArrayLike, check: bool = True,
                  atol: float = RIGID_ATOL) -> ArrayLike:
    """Relative pose ``T_0to1 = T1_w2c @ inv(T0_w2c)`` (camera 0 -> camera 1).

    Args:
        T0_w2c (Tensor | np.ndarray): ``(..., 4, 4)`` world-to-camera-0.
        T1_w2c (Tensor | np.ndarray): ``(..., 4, 4)`` world-to-camera-1.
        check (bool): both poses must be finite rigid transforms within
            ``atol`` (see :func:`invert_pose`); False skips the check.
        atol (float): tolerance of the rigidity check.

    Returns:
        Tensor | np.ndarray: ``(..., 4, 4)``, ``X_1 = T_0to1 @ X_0``.

    Raises:
        ValueError: for bad shapes, or (``check=True``) a pose that is not rigid.
    """
    t0, is_np = _t(T0_w2c, 'T0_w2c')
    t1, _ = _t(T1_w2c, 'T1_w2c')
    _check_mat(t0, 'T0_w2c', ((4, 4), (3, 4)))
    _check_mat(t1, 'T1_w2c', ((4, 4), (3, 4)))
    if check:
        _check_rigid(t0, 'T0_w2c', atol)
        _check_rigid(t1, 'T1_w2c', atol)
    t0, t1 = _common(_to4x4(t0), _to4x4(t1))
    inv0 = _t(invert_pose(t0, check=False), 'T0_w2c')[0]
    return _out(t1 @ inv0, is_np)


def transform_points(T: ArrayLike, X: ArrayLike) -> ArrayLike:
    """Apply a transform to 3-D points.

    Args:
        T (Tensor | np.ndarray): ``(4, 4)`` (rigid or projective: the result
            is divided by the homogeneous coordinate), ``(3, 4)`` or a
            ``(3, 3)`` rotation; or batched ``(B, 4, 4)`` with ``X`` of shape
            ``(B, N, 3)``.
        X (Tensor | np.ndarray): ``(N, 3)`` or ``(B, N, 3)`` points.

    Returns:
        Tensor | np.ndarray: transformed points, ``X``'s shape. ``N = 0`` gives
        an empty result.

    Raises:
        ValueError: for bad shapes.
    """
    tm, _ = _t(T, 'T')
    x, is_np = _t(X, 'X')
    _check_mat(tm, 'T', ((4, 4), (3, 4), (3, 3)))
    _check_vec(x, 'X', 3)
    if x.dim() < 2:
        raise ValueError(f'X must have shape (N, 3), got {tuple(x.shape)}')
    x, tm = _common(x, tm)
    if tm.shape[-2:] == (3, 3):
        return _out(x @ tm.transpose(-1, -2), is_np)
    rot, trans = tm[..., :3, :3], tm[..., :3, 3]
    out = x @ rot.transpose(-1, -2) + trans[..., None, :]
    if tm.shape[-2] == 4:
        last = tm[..., 3, :]
        is_affine = torch.all(last[..., :3] == 0) and torch.all(last[..., 3]
                                                                == 1)
        if not is_affine:
            w = x @ last[..., :3, None] + last[..., None, 3:4]
            out = out / w
    return _out(out, is_np)


def world_to_camera(T_w2c: ArrayLike, X_world: ArrayLike) -> ArrayLike:
    """World points into the camera frame: ``X_cam = R @ X_world + t``.

    Args:
        T_w2c (Tensor | np.ndarray): ``(4, 4)`` world-to-camera pose.
        X_world (Tensor | np.ndarray): ``(N, 3)`` points.

    Returns:
        Tensor | np.ndarray: ``(N, 3)`` camera-frame points.
    """
    return transform_points(T_w2c, X_world)


def camera_to_world(T_w2c: ArrayLike, X_cam: ArrayLike) -> ArrayLike:
    """Camera points into the world: ``X_world = R^T @ (X_cam - t)``.

    Args:
        T_w2c (Tensor | np.ndarray): ``(4, 4)`` **world-to-camera** pose (the
            same argument as :func:`world_to_camera`; pass
            ``invert_pose(T_c2w)`` if you hold a camera-to-world pose).
        X_cam (Tensor | np.ndarray): ``(N, 3)`` points.

    Returns:
        Tensor | np.ndarray: ``(N, 3)`` world points.
    """
    return transform_points(invert_pose(T_w2c), X_cam)  # T_w2c must be rigid


# --------------------------------------------------------------------------
# projection
# --------------------------------------------------------------------------
def _check_finite_focal(arr: np.ndarray, name: str) -> None:
    """``ValueError`` unless the (3, 3) ``arr`` is finite with positive focal lengths."""
    if not np.isfinite(arr).all():
        bad = [tuple(int(v) for v in ij) for ij in np.argwhere(~np.isfinite(arr))]
        raise ValueError(f'{name} must be finite: entries {bad} are NaN or inf, got '
                         f'{arr.tolist()}')
    if not (arr[0, 0] > 0 and arr[1, 1] > 0):
        raise ValueError(f'{name} must have positive focal lengths, got '
                         f'fx={arr[0, 0]}, fy={arr[1, 1]}')


def check_intrinsics(K, name: str = 'K', allow_none: bool = False) -> Optional[np.ndarray]:
    """Validate pinhole intrinsics.

    Args:
        K (array | Tensor | None): ``(3, 3)`` intrinsics, pixels.
        name (str): argument name used in error messages.
        allow_none (bool): return None for None instead of raising.

    Returns:
        np.ndarray | None: ``(3, 3)`` float64 (a copy when converted).

    Raises:
        ValueError: for None (unless allowed), another shape, non-finite values,
            non-positive focal lengths or a last row other than ``(0, 0, 1)``.
    """
    if K is None:
        if allow_none:
            return None
        raise ValueError(f'{name} is None: (3, 3) intrinsics are required')
    if type(K).__module__.startswith('torch'):
        K = K.detach().cpu().numpy()
    arr = np.asarray(K, dtype=np.float64)
    if arr.shape != (3, 3):
        raise ValueError(f'{name} must be a (3, 3) intrinsic matrix, got shape {arr.shape}')
    _check_finite_focal(arr, name)
    if not np.allclose(arr[2], [0, 0, 1]):
        raise ValueError(f'{name} must have last row (0, 0, 1), got {arr[2]}')
    return arr


def _check_K(k: Tensor, name: str = 'K') -> None:
    """``ValueError`` unless ``k`` is a finite, invertible ``(3, 3)`` intrinsic
    matrix with positive focal lengths (any last row: see :func:`check_intrinsics`
    for the pinhole form)."""
    _check_mat(k, name, ((3, 3),), batched=False)
    _check_finite_focal(k.detach().double().cpu().numpy(), name)
    if float(torch.linalg.det(k.double()).abs()) <= 1e-12 * float(k[0, 0] * k[1, 1]):
        raise ValueError(f'{name} must be invertible (last row (0, 0, 1)), got {k.tolist()}')


def _distort(xn: Tensor, dist: Tensor) -> Tensor:
    """OpenCV radial-tangential distortion of normalised points (N, 2)."""
    k = torch.zeros(5, dtype=xn.dtype, device=xn.device)
    k[:dist.numel()] = dist.reshape(-1)[:5].to(xn)
    k1, k2, p1, p2, k3 = k
    x, y = xn[..., 0], xn[..., 1]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return torch.stack([xd, yd], -1)


def project_points(K: ArrayLike,
                   X_cam: ArrayLike,
                   dist_coeffs: Optional[ArrayLike] = None,
                   eps: float = 1e-8) -> Tuple[ArrayLike, ArrayLike]:
    """Project camera-frame points to pixels.

    Args:
        K (Tensor | np.ndarray): ``(3, 3)`` intrinsics.
        X_cam (Tensor | np.ndarray): ``(N, 3)`` points in the camera frame
            (z forward).
        dist_coeffs (Tensor | np.ndarray, optional): OpenCV ``(k1, k2, p1, p2
            [, k3])`` distortion; None (default) = distortion-free pinhole.
        eps (float): depths with ``|z| < eps`` are replaced by ``eps`` in the
            division (points behind the camera keep their negative depth and
            get mirrored pixels; test ``depth > 0``).

    Returns:
        tuple: ``uv`` ``(N, 2)`` pixels and ``depth`` ``(N,)`` (= z).

    Raises:
        ValueError: for bad shapes, or a ``K`` that is not finite, has a
            focal length <= 0 or is singular (an all-zero ``K`` used to map
            every point to ``(0, 0)``).
    """
    k, _ = _t(K, 'K')
    x, is_np = _t(X_cam, 'X_cam')
    _check_K(k)
    _check_vec(x, 'X_cam', 3)
    x, k = _common(x, k)
    z = x[..., 2]
    z_safe = torch.where(z.abs() < eps, torch.full_like(z, eps), z)
    xn = x[..., :2] / z_safe[..., None]
    if dist_coeffs is not None:
        d, _ = _t(dist_coeffs, 'dist_coeffs')
        if d.numel() not in (4, 5):
            raise ValueError('dist_coeffs must have 4 or 5 values '
                             f'(k1, k2, p1, p2[, k3]), got {d.numel()}')
        xn = _distort(xn, d)
    uv = xn @ k[:2, :2].T + k[:2, 2]
    return _out(uv, is_np), _out(z, is_np)


def unproject(K: ArrayLike, uv: ArrayLike, depth: ArrayLike) -> ArrayLike:
    """Back-project pixels with known depth (distortion-free pinhole).

    Args:
        K (Tensor | np.ndarray): ``(3, 3)`` intrinsics.
        uv (Tensor | np.ndarray): ``(N, 2)`` pixels.
        depth (Tensor | np.ndarray | float): ``(N,)`` z-depths or a scalar.

    Returns:
        Tensor | np.ndarray: ``(N, 3)`` camera-frame points with ``z = depth``.

    Raises:
        ValueError: for bad shapes, or a ``K`` that is not finite, has a
            focal length <= 0 or is singular.
    """
    k, _ = _t(K, 'K')
    p, is_np = _t(uv, 'uv')
    z, _ = _t(depth, 'depth')
    _check_K(k)
    _check_vec(p, 'uv', 2)
    p, k = _common(p, k)
    z = z.to(p)
    if z.dim() > 0 and tuple(z.shape) != tuple(p.shape[:-1]):
        raise ValueError(f'depth must be a scalar or of shape '
                         f'{tuple(p.shape[:-1])}, got {tuple(z.shape)}')
    ones = torch.ones_like(p[..., :1])
    rays = torch.cat([p, ones], -1) @ torch.linalg.inv(k).T
    rays = rays / rays[..., 2:3]
    return _out(rays * z[..., None] if z.dim() > 0 else rays * z, is_np)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------
def rotation_angle_error_deg(R_est: ArrayLike, R_gt: ArrayLike) -> ArrayLike:
    """Geodesic angle of ``R_est^T @ R_gt``, degrees in ``[0, 180]``.

    Computed as ``atan2(|axis * sin|, cos)`` from the trace and the
    antisymmetric part, which is accurate for small and near-180 angles (no
    ``arccos`` of a value rounded past +-1).

    Args:
        R_est (Tensor | np.ndarray): ``(..., 3, 3)`` rotations (the top-left
            3x3 of ``(..., 4, 4)`` / ``(..., 3, 4)`` poses is used).
        R_gt (Tensor | np.ndarray): same.

    Returns:
        Tensor | np.ndarray: ``(...)`` angles; a 0-d array for single inputs.
    """
    a, is_np = _t(R_est, 'R_est')
    b, _ = _t(R_gt, 'R_gt')
    _check_mat(a, 'R_est', ((3, 3), (3, 4), (4, 4)))
    _check_mat(b, 'R_gt', ((3, 3), (3, 4), (4, 4)))
    a, b = _common(a[..., :3, :3], b[..., :3, :3])
    rel = a.transpose(-1, -2) @ b
    cos = (rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    vee = torch.stack([rel[..., 2, 1] - rel[..., 1, 2],
                       rel[..., 0, 2] - rel[..., 2, 0],
                       rel[..., 1, 0] - rel[..., 0, 1]], -1)
    sin = vee.norm(dim=-1) / 2
    return _out(torch.rad2deg(torch.atan2(sin, cos)), is_np)


def translation_angle_error_deg(t_est: ArrayLike,
                                t_gt: ArrayLike,
                                ignore_sign: bool = False,
                                eps: float = 1e-12) -> ArrayLike:
    """Angle between translation directions, degrees.

    Args:
        t_est (Tensor | np.ndarray): ``(..., 3)`` translations.
        t_gt (Tensor | np.ndarray): ``(..., 3)`` translations.
        ignore_sign (bool): return ``min(err, 180 - err)`` (LoFTR/SuperGlue
            style: an essential matrix fixes t only up to sign), in
            ``[0, 90]``.
        eps (float): a vector with norm ``<= eps`` has no direction; its
            error is NaN (LoFTR maps a zero ground truth to 0 instead: do that
            at the call site if wanted).

    Returns:
        Tensor | np.ndarray: ``(...)`` angles in ``[0, 180]`` (or ``[0, 90]``).
    """
    a, is_np = _t(t_est, 't_est')
    b, _ = _t(t_gt, 't_gt')
    _check_vec(a, 't_est', 3)
    _check_vec(b, 't_gt', 3)
    a, b = _common(a, b)
    cross = torch.linalg.cross(a, b, dim=-1).norm(dim=-1)
    dot = (a * b).sum(-1)
    err = torch.rad2deg(torch.atan2(cross, dot))
    if ignore_sign:
        err = torch.minimum(err, 180 - err)
    degenerate = (a.norm(dim=-1) <= eps) | (b.norm(dim=-1) <= eps)
    err = torch.where(degenerate, torch.full_like(err, float('nan')), err)
    return _out(err, is_np)


def translation_error(t_est: ArrayLike, t_gt: ArrayLike) -> ArrayLike:
    """Euclidean distance ``|t_est - t_gt|`` (metres if the poses are metric).

    Args:
        t_est (Tensor | np.ndarray): ``(..., 3)``.
        t_gt (Tensor | np.ndarray): ``(..., 3)``.

    Returns:
        Tensor | np.ndarray: ``(...)`` distances.
    """
    a, is_np = _t(t_est, 't_est')
    b, _ = _t(t_gt, 't_gt')
    _check_vec(a, 't_est', 3)
    _check_vec(b, 't_gt', 3)
    a, b = _common(a, b)
    return _out((a - b).norm(dim=-1), is_np)


def is_rigid_transform(T: ArrayLike, atol: float = 1e-6) -> Union[bool,
                                                                   ArrayLike]:
    """Whether matrices are rigid transforms (rotation + translation).

    Checks ``R^T R = I`` and ``det R = 1`` within ``atol`` and, for 4x4, a last
    row ``(0, 0, 0, 1)``.

    Args:
        T (Tensor | np.ndarray): ``(4, 4)``, ``(3, 4)``, ``(3, 3)`` or batched.
        atol (float): absolute tolerance.

    Returns:
        bool for one matrix; a ``(B, ...)`` bool array/tensor for a batch.

    Raises:
        ValueError: for other shapes.
    """
    t, is_np = _t(T, 'T')
    _check_mat(t, 'T', ((4, 4), (3, 4), (3, 3)))
    rot = t[..., :3, :3]
    eye = torch.eye(3, dtype=t.dtype, device=t.device)
    ortho = ((rot.transpose(-1, -2) @ rot - eye).abs() <= atol).all(-1).all(-1)
    det = (torch.linalg.det(rot) - 1).abs() <= atol
    ok = ortho & det
    if t.shape[-2] == 4:
        last = t[..., 3, :]
        ref = torch.tensor([0, 0, 0, 1], dtype=t.dtype, device=t.device)
        ok = ok & ((last - ref).abs() <= atol).all(-1)
    if ok.dim() == 0:
        return bool(ok)
    return _out(ok, is_np)


# --------------------------------------------------------------------------
# epipolar geometry and rotations
# --------------------------------------------------------------------------
def skew(v: ArrayLike) -> ArrayLike:
    """Cross-product matrix ``[v]_x`` with ``[v]_x @ u = v x u``.

    Args:
        v (Tensor | np.ndarray): ``(..., 3)``.

    Returns:
        Tensor | np.ndarray: ``(..., 3, 3)``.
    """
    t, is_np = _t(v, 'v')
    _check_vec(t, 'v', 3)
    x, y, z = t.unbind(-1)
    o = torch.zeros_like(x)
    m = torch.stack([o, -z, y, z, o, -x, -y, x, o], -1)
    return _out(m.reshape(*t.shape[:-1], 3, 3), is_np)


def essential_from_pose(T_0to1: ArrayLike) -> ArrayLike:
    """Essential matrix ``E = [t]_x R`` of a relative pose.

    Normalised image points satisfy ``x1^T E x0 = 0`` where
    ``X_1 = R X_0 + t``.

    Args:
        T_0to1 (Tensor | np.ndarray): ``(..., 4, 4)`` or ``(..., 3, 4)``.

    Returns:
        Tensor | np.ndarray: ``(..., 3, 3)`` (not normalised).
    """
    t, is_np = _t(T_0to1, 'T_0to1')
    _check_mat(t, 'T_0to1', ((4, 4), (3, 4)))
    tx = _t(skew(t[..., :3, 3]), 't')[0]
    return _out(tx @ t[..., :3, :3], is_np)


def _as_scipy_input(t: Tensor, tail: Tuple[int, ...]) -> np.ndarray:
    """(N, *tail) float64 numpy copy of a (..., *tail) tensor (detached, on the CPU)."""
    return t.detach().to('cpu', torch.float64).reshape(-1, *tail).numpy()


def _from_scipy_output(a: np.ndarray, like: Tensor, batch: Tuple[int, ...],
                       is_np: bool) -> ArrayLike:
    """``a`` reshaped to ``batch + a.shape[1:]`` with the dtype and device of ``like``."""
    out = torch.from_numpy(a).to(device=like.device, dtype=like.dtype)
    return _out(out.reshape(*batch, *a.shape[1:]), is_np)


def quaternion_to_rotation(q: ArrayLike) -> ArrayLike:
    """Rotation matrices from quaternions ``(w, x, y, z)`` (COLMAP order).

    Computed by :class:`scipy.spatial.transform.Rotation` (which orders
    quaternions ``(x, y, z, w)``) in float64, returned in the input's dtype
    and device; not differentiable.

    Args:
        q (Tensor | np.ndarray): ``(..., 4)``; normalised internally.

    Returns:
        Tensor | np.ndarray: ``(..., 3, 3)``.

    Raises:
        ValueError: for a bad shape or a zero quaternion.
    """
    from scipy.spatial.transform import Rotation
    t, is_np = _t(q, 'q')
    _check_vec(t, 'q', 4)
    if (t.norm(dim=-1) <= 0).any():
        raise ValueError('q must be non-zero quaternions (w, x, y, z)')
    wxyz = _as_scipy_input(t, (4,))
    mats = (Rotation.from_quat(wxyz[:, [1, 2, 3, 0]]).as_matrix() if len(wxyz)
            else np.zeros((0, 3, 3)))
    return _from_scipy_output(mats, t, tuple(t.shape[:-1]), is_np)


def rotation_to_quaternion(R: ArrayLike) -> ArrayLike:
    """Unit quaternions ``(w, x, y, z)`` of rotation matrices, ``w >= 0``.

    Computed by :class:`scipy.spatial.transform.Rotation` (stable for every
    rotation, including 180 degrees) in float64, returned in the input's dtype
    and device; not differentiable. The sign is scipy's canonical one: ``w > 0``,
    or, for ``w = 0`` (180 degrees), the first non-zero of ``x, y, z`` positive.

    Args:
        R (Tensor | np.ndarray): ``(..., 3, 3)`` rotations.

    Returns:
        Tensor | np.ndarray: ``(..., 4)`` unit quaternions.
    """
    from scipy.spatial.transform import Rotation
    t, is_np = _t(R, 'R')
    _check_mat(t, 'R', ((3, 3),))
    mats = _as_scipy_input(t, (3, 3))
    xyzw = (Rotation.from_matrix(mats).as_quat(canonical=True) if len(mats)
            else np.zeros((0, 4)))
    return _from_scipy_output(np.ascontiguousarray(xyzw[:, [3, 0, 1, 2]]), t,
                              tuple(t.shape[:-2]), is_np)
