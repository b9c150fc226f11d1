"""SparseFusion's disentangled camera representation of a 3-D box and its exact
transformation into the LiDAR frame.

A box seen by one camera is described by what that camera can measure:

* ``uv`` (2,): image position of the box's **gravity centre**, pixels, pixel
  centres at integers (the convention of :mod:`vision_sparse.structures.cameras`),
  in the image that ``cam2img`` maps to;
* ``depth`` (1,): camera-frame z of the gravity centre, metres;
* ``dims`` (3,): ``(l, h, w)`` in the order of :class:`CameraBoxes3D` (length along
  the heading, height, width), metres (heads predict their log);
* ``rot`` (2,): ``(sin ry, cos ry)``, ``ry`` the camera yaw of
  :class:`CameraBoxes3D` (heading ``(cos ry, 0, -sin ry)``);
* ``vel`` (2,): ``(vx, vz)``, the ground-plane velocity in the camera's x / z axes.

Rotations. The LiDAR ground plane is not exactly the camera's x-z plane (real
cameras are tilted by a fraction of a degree), so a LiDAR ground-plane vector
``g = (gx, gy, 0)`` is described in the camera by the x and z components of
``R g`` (``R`` = rotation of ``lidar2cam``): ``(x, z) = A (gx, gy)`` with
``A = R[[0, 2]][:, :2]`` (2x2). The camera yaw is the direction of ``A`` applied
to ``(cos yaw, sin yaw)``, and going back uses ``A^-1`` (and a normalisation for
the yaw): the round trip is exact, and the camera yaw equals the ``ry`` that
:meth:`LiDARBoxes3D.convert_to('camera', lidar2cam)` gives. The official
SparseFusion code instead rotates ``(cos ry, 0, -sin ry)`` by the full inverse
rotation and drops the vertical component, which is off by the camera tilt.
"""
from typing import Dict, Sequence

import torch
from torch import Tensor, nn

from ....registry import MODELS

__all__ = ['lidar_to_camera_repr', 'camera_repr_to_lidar', 'boxes_to_bev_preds',
           'check_camera_matrices', 'bev_preds_to_boxes', 'camera_info_vector',
           'ViewTransformer']


def _check_square4(mat, name: str) -> Tensor:
    if not isinstance(mat, Tensor):
        raise ValueError(f'{name} must be a torch.Tensor, got {type(mat).__name__}')
    if mat.dim() < 2 or tuple(mat.shape[-2:]) not in ((4, 4), (3, 3)):
        raise ValueError(f'{name} must have shape (..., 4, 4) (cam2img also (..., 3, 3)), '
                         f'got {tuple(mat.shape)}')
    if not torch.isfinite(mat).all():
        raise ValueError(f'{name} must be finite')
    if mat.shape[-1] == 3:
        out = torch.zeros(mat.shape[:-2] + (4, 4), dtype=mat.dtype, device=mat.device)
        out[..., :3, :3] = mat
        out[..., 3, 3] = 1
        return out
    return mat


def _check_invertible(mat: Tensor, name: str, rel_tol: float = 1e-9) -> None:
    det = torch.linalg.det(mat.double())
    scale = mat.double().abs().amax(dim=(-2, -1)).clamp_min(1e-30) ** mat.shape[-1]
    if bool((det.abs() <= rel_tol * scale).any()):
        raise ValueError(f'{name} is not invertible (determinant ~0 for at least one view)')


def check_camera_matrices(cam2img: Tensor, lidar2cam: Tensor) -> Dict[str, Tensor]:
    """Validate per-query (or per-view) camera matrices.

    Args:
        cam2img (Tensor): (..., 3, 3) or (..., 4, 4) camera -> image.
        lidar2cam (Tensor): (..., 4, 4) LiDAR -> camera, same leading shape.

    Returns:
        dict: ``cam2img`` (..., 4, 4), ``lidar2cam`` (..., 4, 4), ``ground``
        (..., 2, 2) the matrix ``A`` of the module docstring.

    Raises:
        ValueError: wrong shapes, non-finite entries, ``cam2img`` / ``lidar2cam``
        not invertible, or a camera looking straight up / down (``A`` singular:
        the ground plane has no yaw direction in that camera; named ``lidar2cam``).
    """
    cam2img = _check_square4(cam2img, 'cam2img')
    if not isinstance(lidar2cam, Tensor) or tuple(lidar2cam.shape[-2:]) != (4, 4):
        raise ValueError('lidar2cam must be a torch.Tensor of shape (..., 4, 4), got '
                         f'{tuple(getattr(lidar2cam, "shape", ()))}')
    lidar2cam = _check_square4(lidar2cam, 'lidar2cam')
    if cam2img.shape[:-2] != lidar2cam.shape[:-2]:
        raise ValueError(f'cam2img {tuple(cam2img.shape)} and lidar2cam '
                         f'{tuple(lidar2cam.shape)} need the same leading shape')
    _check_invertible(cam2img, 'cam2img')
    _check_invertible(lidar2cam, 'lidar2cam')
    ground = lidar2cam[..., [0, 2], :][..., :, :2]
    _check_invertible(ground, 'lidar2cam (ground-plane block: camera looks straight up/down)',
                      rel_tol=1e-6)
    return dict(cam2img=cam2img, lidar2cam=lidar2cam, ground=ground)


def lidar_to_camera_repr(boxes: Tensor, cam2img: Tensor, lidar2cam: Tensor) -> Dict[str, Tensor]:
    """Encode LiDAR boxes in the camera representation of one view each.

    Args:
        boxes (Tensor): (..., 9) ``(x, y, z, l, w, h, yaw, vx, vy)`` gravity centre,
            LiDAR frame (7 columns: velocity 0). NaN velocity stays NaN.
        cam2img (Tensor): (..., 3|4, 3|4) of the view of each box (broadcast with
            the leading shape of ``boxes``).
        lidar2cam (Tensor): (..., 4, 4).

    Returns:
        dict: ``uv`` (..., 2), ``depth`` (..., 1), ``dims`` (..., 3) ``(l, h, w)``,
        ``rot`` (..., 2) ``(sin ry, cos ry)``, ``vel`` (..., 2) ``(vx, vz)``; the
        dtype of ``boxes`` (computed in float64).

    Raises:
        ValueError: see :func:`check_camera_matrices`; boxes not (..., 7|9).
    """
    if not isinstance(boxes, Tensor) or boxes.shape[-1] not in (7, 9):
        raise ValueError('boxes must be a tensor of shape (..., 7) or (..., 9), got '
                         f'{tuple(getattr(boxes, "shape", ()))}')
    mats = check_camera_matrices(cam2img, lidar2cam)
    b = boxes.double()
    k, rt, a = (mats[n].double() for n in ('cam2img', 'lidar2cam', 'ground'))
    ctr = torch.cat([b[..., :3], torch.ones_like(b[..., :1])], -1)
    cam = (rt @ ctr.unsqueeze(-1)).squeeze(-1)
    img = (k @ cam.unsqueeze(-1)).squeeze(-1)
    depth = img[..., 2:3]
    uv = img[..., :2] / depth
    yaw = b[..., 6]
    hx, hz = (a @ torch.stack([yaw.cos(), yaw.sin()], -1).unsqueeze(-1)).squeeze(-1).unbind(-1)
    ry = torch.atan2(-hz, hx)
    vel = b[..., 7:9] if b.shape[-1] == 9 else torch.zeros_like(b[..., :2])
    vel_cam = (a @ vel.unsqueeze(-1)).squeeze(-1)
    out = dict(uv=uv, depth=depth, dims=b[..., [3, 5, 4]],
               rot=torch.stack([ry.sin(), ry.cos()], -1), vel=vel_cam)
    return {key: val.to(boxes.dtype) for key, val in out.items()}


def camera_repr_to_lidar(uv: Tensor, depth: Tensor, dims: Tensor, rot: Tensor, vel: Tensor,
                         cam2img: Tensor, lidar2cam: Tensor,
                         check: bool = True) -> Tensor:
    """Transform the camera representation into LiDAR-frame boxes (differentiable).

    Centre: ``K^-1 [u d, v d, d, 1]`` (``K`` = 4x4 ``cam2img``), then
    ``lidar2cam^-1``; dims ``(l, h, w) -> (l, w, h)``; yaw and velocity through
    the inverse ground-plane block (module docstring).

    Args:
        uv (Tensor): (..., 2) pixels (centres at integers).
        depth (Tensor): (..., 1) metres, > 0.
        dims (Tensor): (..., 3) ``(l, h, w)`` metres.
        rot (Tensor): (..., 2) ``(sin ry, cos ry)`` (need not be normalised).
        vel (Tensor): (..., 2) ``(vx, vz)`` m/s.
        cam2img (Tensor): (..., 3|4, 3|4).
        lidar2cam (Tensor): (..., 4, 4).
        check (bool): validate the matrices (set False inside a model once they
            were checked).

    Returns:
        Tensor: (..., 9) ``(x, y, z, l, w, h, yaw, vx, vy)`` in the dtype of ``uv``.

    Raises:
        ValueError: see :func:`check_camera_matrices`.
    """
    if check:
        mats = check_camera_matrices(cam2img, lidar2cam)
        k, rt, a = mats['cam2img'], mats['lidar2cam'], mats['ground']
    else:
        k, rt = _check_square4(cam2img, 'cam2img'), lidar2cam
        a = rt[..., [0, 2], :][..., :, :2]
    dtype = uv.dtype
    k, rt, a = k.to(dtype), rt.to(dtype), a.to(dtype)
    pix = torch.cat([uv * depth, depth, torch.ones_like(depth)], -1)
    cam = torch.linalg.solve(k, pix.unsqueeze(-1))
    ctr = torch.linalg.solve(rt, cam).squeeze(-1)[..., :3]
    ry_dir = torch.stack([rot[..., 1], -rot[..., 0]], -1)  # (cos ry, -sin ry) = camera (x, z)
    g = torch.linalg.solve(a, ry_dir.unsqueeze(-1)).squeeze(-1)
    yaw = torch.atan2(g[..., 1], g[..., 0])
    vel_l = torch.linalg.solve(a, vel.unsqueeze(-1)).squeeze(-1)
    return torch.cat([ctr, dims[..., [0, 2, 1]], yaw.unsqueeze(-1), vel_l], -1)


def _coder(point_cloud_range: Sequence[float], voxel_size: Sequence[float],
           out_size_factor: int):
    from ...task_modules.coders import TransFusionBBoxCoder
    return TransFusionBBoxCoder(point_cloud_range, voxel_size, out_size_factor)


def boxes_to_bev_preds(boxes: Tensor, point_cloud_range: Sequence[float],
                       voxel_size: Sequence[float], out_size_factor: int) -> Dict[str, Tensor]:
    """LiDAR boxes ``(B, Q, 9)`` -> the head prediction-dict regression entries
    (:meth:`TransFusionBBoxCoder.encode`, split by :data:`BOX_CODE_KEYS`).

    Args:
        boxes (Tensor): (B, Q, 9) gravity-centre boxes, positive dims.
        point_cloud_range (Sequence[float]): ``[x0, y0, z0, x1, y1, z1]``.
        voxel_size (Sequence[float]): ``[sx, sy, sz]`` metres.
        out_size_factor (int): BEV cells are ``voxel_size * out_size_factor``.

    Returns:
        dict: ``center`` (B, 2, Q) BEV grid coordinates (cell (i, j) covers
        ``x0 + [j, j + 1) * sx * s``: +0.5 is a cell centre), ``height`` (B, 1, Q),
        ``dim`` (B, 3, Q) ``log(l, w, h)``, ``rot`` (B, 2, Q) ``(sin, cos)``,
        ``vel`` (B, 2, Q).
    """
    from ...task_modules.coders import BOX_CODE_KEYS
    b, q = boxes.shape[:2]
    code = _coder(point_cloud_range, voxel_size, out_size_factor).encode(boxes.reshape(b * q, -1))
    parts = code.reshape(b, q, -1).transpose(1, 2).split([n for _, n in BOX_CODE_KEYS], 1)
    return {key: part for (key, _), part in zip(BOX_CODE_KEYS, parts)}


def bev_preds_to_boxes(preds: Dict[str, Tensor], point_cloud_range: Sequence[float],
                       voxel_size: Sequence[float], out_size_factor: int) -> Tensor:
    """Inverse of :func:`boxes_to_bev_preds` (:meth:`TransFusionBBoxCoder.decode`).

    Returns:
        Tensor: (B, Q, 9).
    """
    return _coder(point_cloud_range, voxel_size, out_size_factor).decode(
        dict(preds, heatmap=preds['center'][:, :1]))[0]


def camera_info_vector(cam2img: Tensor, lidar2cam: Tensor, img_shape: Sequence[int],
                       translation_scale: float = 10.0) -> Tensor:
    """The camera parameters a :class:`ViewTransformer` is conditioned on.

    Args:
        cam2img (Tensor): (..., 4, 4) packed-image intrinsics.
        lidar2cam (Tensor): (..., 4, 4).
        img_shape (Sequence[int]): packed (H, W).
        translation_scale (float): metres that map to 1.

    Returns:
        Tensor: (..., 16) ``R`` (9, row-major), ``t / translation_scale`` (3),
        ``fx / W, fy / H, cx / W, cy / H``.
    """
    h, w = img_shape
    rot = lidar2cam[..., :3, :3].flatten(-2)
    trans = lidar2cam[..., :3, 3] / translation_scale
    intr = torch.stack([cam2img[..., 0, 0] / w, cam2img[..., 1, 1] / h,
                        cam2img[..., 0, 2] / w, cam2img[..., 1, 2] / h], -1)
    return torch.cat([rot, trans, intr], -1)


def _mlp(cin: int, hidden: int, cout: int, zero_last: bool = False) -> nn.Sequential:
    last = nn.Conv1d(hidden, cout, 1)
    if zero_last:
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Conv1d(cin, hidden, 1), nn.ReLU(inplace=True), last)


@MODELS.register_module()
class ViewTransformer(nn.Module):
    """Refine camera queries after their geometric transfer to the LiDAR frame.

    The query features are gated by an MLP of the camera parameters (as the official
    ``CameraSE``, without its BatchNorm), then updated by a residual MLP fed with the
    BEV position and the transformed box; small heads predict residuals of centre,
    height, log-dims, (sin, cos) and velocity (zero-initialised: at initialisation the
    output is exactly the geometric transformation) and class logits. The official
    layer is a self-attention decoder layer over the camera queries; here the
    queries do not attend to each other (the fusion layer does that).

    Args:
        hidden_channels (int): query channels C.
        num_classes (int): K.
        point_cloud_range, voxel_size, out_size_factor: the BEV grid.
        cam_dims (int): length of :func:`camera_info_vector` (16).
    """

    def __init__(self, hidden_channels: int, num_classes: int,
                 point_cloud_range: Sequence[float], voxel_size: Sequence[float],
                 out_size_factor: int, cam_dims: int = 16):
        super().__init__()
        c = hidden_channels
        self.grid = (point_cloud_range, voxel_size, out_size_factor)
        x0, y0, _, x1, y1, _ = point_cloud_range
        self.grid_size = ((x1 - x0) / (voxel_size[0] * out_size_factor),
                          (y1 - y0) / (voxel_size[1] * out_size_factor))
        self.camera_gate = _mlp(cam_dims, c, c)
        self.box_embed = _mlp(10, c, c)
        self.ffn = _mlp(c, 2 * c, c)
        self.norm = nn.LayerNorm(c)
        self.deltas = nn.ModuleDict({key: _mlp(c, c, n, zero_last=True) for key, n in
                                     (('center', 2), ('height', 1), ('dim', 3), ('rot', 2),
                                      ('vel', 2))})
        self.cls = _mlp(c, c, num_classes)
        nn.init.constant_(self.cls[-1].bias, -2.19)

    def forward(self, query_feat: Tensor, boxes: Tensor, cam_info: Tensor) -> Dict[str, Tensor]:
        """Refine.

        Args:
            query_feat (Tensor): (B, C, Q).
            boxes (Tensor): (B, Q, 9) transformed LiDAR boxes.
            cam_info (Tensor): (B, Q, 16) :func:`camera_info_vector` of each query's view.

        Returns:
            dict: the head prediction-dict layout: ``center`` (B, 2, Q) BEV grid
            coords, ``height`` (B, 1, Q), ``dim`` (B, 3, Q) log(l, w, h), ``rot``
            (B, 2, Q), ``vel`` (B, 2, Q) (NaN-free), ``heatmap`` (B, K, Q) logits,
            ``query_feat`` (B, C, Q), ``query_pos`` (B, Q, 2).
        """
        base = boxes_to_bev_preds(torch.nan_to_num(boxes), *self.grid)
        feat = query_feat * self.camera_gate(cam_info.transpose(1, 2).to(query_feat)).sigmoid()
        scale = base['center'].new_tensor(self.grid_size)[None, :, None]
        box_code = torch.cat([base['center'] / scale, base['height'], base['dim'],
                              base['rot'], base['vel']], 1).detach()
        feat = feat + self.box_embed(box_code)
        feat = self.norm((feat + self.ffn(feat)).transpose(1, 2)).transpose(1, 2)
        out = {key: base[key] + head(feat) for key, head in self.deltas.items()}
        out['heatmap'] = self.cls(feat)
        out['query_feat'] = feat
        out['query_pos'] = out['center'].detach().transpose(1, 2)
        return out
