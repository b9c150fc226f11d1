"""3-D boxes in the LiDAR frame and in the (KITTI-style) camera frame.

Frames and box parameters (metres, radians):

* :class:`LiDARBoxes3D` -- a right-handed LiDAR frame with z up (KITTI
  Velodyne: x forward, y left; nuScenes ``LIDAR_TOP``: x right, y forward, as
  its ``lidar2cam`` shows: camera z = LiDAR y). A box is
  ``(x, y, z, l, w, h, yaw)`` with ``(x, y, z)`` the **gravity centre** (the
  middle of the box, ``z`` half-way up), ``l`` along x at ``yaw = 0``, ``w``
  along y, ``h`` along z, ``yaw`` counter-clockwise around +z (from +x toward
  +y); the heading (front) is ``(cos yaw, sin yaw, 0)``. This is the mmdet3d
  >= 1.0 LiDAR convention as stored in its info pickles
  (``instances[i]['bbox_3d']``). Checked on the nuScenes sample of
  ``shared/data``:

  - counting LiDAR points with these boxes (z as the centre) reproduces
    ``num_lidar_pts`` exactly for 61 of 69 instances and within 1-16 points
    for the other 8 (total absolute difference 29 points; the annotation tool
    evidently counted slightly differently); z as the bottom, a clockwise yaw
    or swapped l/w reproduce only 14, 55 and 36 instances (537, 60 and 667
    points of total difference);
  - every object moving faster than 1 m/s has its ``velocity`` within 9 degrees
    of ``(cos yaw, sin yaw)``, so yaw gives the front, not just the axis.

  mmdet3d's ``LiDARInstance3DBoxes`` store the bottom centre instead; the info
  pickles hold the gravity centre.
* :class:`CameraBoxes3D` -- camera frame: x right, y down, z forward. A box is
  ``(x, y, z, l, h, w, ry)`` as in KITTI labels: ``(x, y, z)`` the **bottom
  centre** (the box spans ``y - h .. y``), ``l`` along x at ``ry = 0``, ``h``
  along -y, ``w`` along z, ``ry`` the rotation around +y (y points down, so a
  positive ``ry`` turns +x toward -z). The heading is ``(cos ry, 0, -sin ry)``.

Both classes store ``tensor`` of shape ``(N, D)``, ``D >= 7``. If ``D >= 9``
columns 7 and 8 are a velocity in the ground plane (LiDAR: ``(vx, vy)``;
camera: ``(vx, vz)``), rotated by :meth:`BaseBoxes3D.convert_to`; further
columns are copied unchanged.

Corner order (both frames), as signs of (forward, left, up) in the box frame
(forward = heading, left = ``up x forward``, up = against gravity)::

    index  0        1        2        3        4       5       6       7
    signs  (+,+,-)  (+,-,-)  (-,-,-)  (-,+,-)  (+,+,+) (+,-,+) (-,-,+) (-,+,+)
           front-   front-   rear-    rear-    the same four, on the top face
           left     right    right    left
           (bottom face)

The front face is ``(0, 1, 5, 4)``; :data:`BOX3D_EDGES` lists the 12 edges.
"""
from typing import Optional, Sequence, Tuple, Type, TypeVar, Union

import numpy as np
import torch
from torch import Tensor

__all__ = ['BaseBoxes3D', 'LiDARBoxes3D', 'CameraBoxes3D']

ArrayLike = Union[Tensor, np.ndarray]
B = TypeVar('B', bound='BaseBoxes3D')

#: (forward, left, up) signs of the 8 corners, see the module docstring.
BOX3D_CORNER_SIGNS = ((1, 1, -1), (1, -1, -1), (-1, -1, -1), (-1, 1, -1),
                      (1, 1, 1), (1, -1, 1), (-1, -1, 1), (-1, 1, 1))
#: the 12 edges as corner index pairs: bottom ring, top ring, verticals.
BOX3D_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
               (0, 4), (1, 5), (2, 6), (3, 7))
#: corners of the front face (the ``+l/2`` end), in drawing order.
BOX3D_FRONT_FACE = (0, 1, 5, 4)

# Camera <- LiDAR axis permutation used when no transform is given:
# cam x = -lidar y, cam y = -lidar z, cam z = lidar x.
_LIDAR2CAM_AXES = ((0.0, -1.0, 0.0, 0.0), (0.0, 0.0, -1.0, 0.0),
                   (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))


def _as_matrix(mat: ArrayLike, name: str, ref: Tensor) -> Tensor:
    """A 4x4 float tensor from a 3x3 / 3x4 / 4x4 matrix (3x3 -> rotation)."""
    if not isinstance(mat, (Tensor, np.ndarray, list, tuple)):
        raise TypeError(f'{name} must be a Tensor or array, '
                        f'got {type(mat).__name__}')
    m = torch.as_tensor(np.asarray(mat) if isinstance(mat, (list, tuple))
                        else mat)
    m = m.to(device=ref.device, dtype=torch.float64)
    if m.shape == (4, 4):
        return m
    out = torch.eye(4, dtype=torch.float64, device=ref.device)
    if m.shape == (3, 3):
        out[:3, :3] = m
    elif m.shape == (3, 4):
        out[:3] = m
    else:
        raise ValueError(f'{name} must have shape (3, 3), (3, 4) or (4, 4), '
                         f'got {tuple(m.shape)}')
    return out


class BaseBoxes3D:
    """Common code of :class:`LiDARBoxes3D` and :class:`CameraBoxes3D`.

    Args:
        data (Tensor | np.ndarray | Sequence): ``(N, D)`` boxes, ``D >= 7``;
            an empty input (any shape with 0 elements) gives ``(0, 7)``.
        dtype (torch.dtype, optional): stored dtype; integer input becomes
            float32, floating input keeps its dtype by default.
        device (str | torch.device, optional): stored device.

    Raises:
        ValueError: if the data is not ``(N, >=7)``.
    """

    #: 'lidar' or 'camera'
    frame: str = ''
    CORNER_SIGNS = BOX3D_CORNER_SIGNS
    EDGES = BOX3D_EDGES
    FRONT_FACE = BOX3D_FRONT_FACE

    def __init__(self,
                 data: Union[Tensor, np.ndarray, Sequence],
                 dtype: Optional[torch.dtype] = None,
                 device: Optional[Union[str, torch.device]] = None) -> None:
        if isinstance(data, BaseBoxes3D):
            data = data.tensor
        if isinstance(data, np.ndarray):
            tensor = torch.from_numpy(np.ascontiguousarray(data))
        elif isinstance(data, Tensor):
            tensor = data
        elif isinstance(data, (list, tuple)):
            tensor = torch.as_tensor(np.asarray(data, dtype=np.float32))
        else:
            raise TypeError('boxes must be a Tensor, ndarray or sequence, '
                            f'got {type(data).__name__}')
        if tensor.numel() == 0:
            width = tensor.shape[-1] if (tensor.dim() == 2
                                         and tensor.shape[-1] >= 7) else 7
            tensor = tensor.reshape(0, width)
        if tensor.dim() != 2 or tensor.shape[1] < 7:
            raise ValueError(f'{type(self).__name__} data must have shape '
                             f'(N, >=7), got {tuple(tensor.shape)}')
        if not tensor.is_floating_point():
            tensor = tensor.float()
        if dtype is not None or device is not None:
            tensor = tensor.to(dtype=dtype, device=device)
        self.tensor: Tensor = tensor

    # ---------------------------------------------------------- container
    def __len__(self) -> int:
        return self.tensor.shape[0]

    def __getitem__(self: B, index) -> B:
        """Index boxes; an integer keeps the 2-D shape ``(1, D)``."""
        if isinstance(index, np.ndarray):
            index = torch.from_numpy(index)
        out = self.tensor[index]
        if out.dim() == 1:
            out = out[None]
        return type(self)(out)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(\n{self.tensor})'

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    @property
    def dtype(self) -> torch.dtype:
        return self.tensor.dtype

    @property
    def shape(self) -> torch.Size:
        return self.tensor.shape

    @property
    def box_dim(self) -> int:
        """Number of columns ``D``."""
        return self.tensor.shape[1]

    def to(self: B, *args, **kwargs) -> B:
        """Move/cast like :meth:`torch.Tensor.to` (e.g. ``boxes.to('cuda')``)."""
        return type(self)(self.tensor.to(*args, **kwargs))

    def cpu(self: B) -> B:
        return type(self)(self.tensor.cpu())

    def clone(self: B) -> B:
        return type(self)(self.tensor.clone())

    def numpy(self) -> np.ndarray:
        """The ``(N, D)`` boxes as a numpy array (copied to CPU)."""
        return self.tensor.detach().cpu().numpy()

    @classmethod
    def cat(cls: Type[B], boxes_list: Sequence[B]) -> B:
        """Concatenate boxes of this class; an empty list gives no boxes."""
        if len(boxes_list) == 0:
            return cls(torch.zeros(0, 7))
        for b in boxes_list:
            if not isinstance(b, cls):
                raise TypeError(f'all boxes must be {cls.__name__}, '
                                f'got {type(b).__name__}')
        return cls(torch.cat([b.tensor for b in boxes_list], 0))

    # ---------------------------------------------------------- geometry
    @property
    def yaw(self) -> Tensor:
        """``(N,)`` heading angle (LiDAR yaw or camera ry), radians."""
        return self.tensor[:, 6]

    @property
    def lwh(self) -> Tensor:
        """``(N, 3)`` sizes (length along heading, width, height), metres."""
        raise NotImplementedError

    @property
    def dims(self) -> Tensor:
        """``(N, 3)`` sizes in stored order (LiDAR l, w, h; camera l, h, w)."""
        return self.tensor[:, 3:6]

    @property
    def volume(self) -> Tensor:
        """``(N,)`` volumes, cubic metres."""
        return self.tensor[:, 3:6].prod(dim=1)

    @property
    def gravity_center(self) -> Tensor:
        """``(N, 3)`` box centres (middle of the box)."""
        raise NotImplementedError

    @property
    def bottom_center(self) -> Tensor:
        """``(N, 3)`` centres of the bottom faces."""
        raise NotImplementedError

    def _stored_center_moved(self, axis: int, size_col: int) -> Tensor:
        """``(N, 3)`` stored centre (columns 0-2) minus half the size in column
        ``size_col`` along coordinate ``axis`` (LiDAR: gravity -> bottom
        centre, z up; camera: bottom -> gravity centre, y down)."""
        out = self.tensor[:, :3].clone()
        out[:, axis] = out[:, axis] - self.tensor[:, size_col] / 2
        return out

    @property
    def velocity(self) -> Optional[Tensor]:
        """``(N, 2)`` ground-plane velocity (columns 7, 8) or None."""
        return self.tensor[:, 7:9] if self.box_dim >= 9 else None

    def axes(self) -> Tensor:
        """``(N, 3, 3)`` unit box axes: rows forward, left, up, in the frame."""
        raise NotImplementedError

    @property
    def corners(self) -> Tensor:
        """``(N, 8, 3)`` corners in the order of the module docstring."""
        signs = self.tensor.new_tensor(BOX3D_CORNER_SIGNS)  # (8, 3)
        half = self.lwh / 2  # (N, 3)
        local = signs[None] * half[:, None, :]  # (N, 8, 3)
        return self.gravity_center[:, None, :] + local @ self.axes()

    @property
    def bev(self) -> Tensor:
        """``(N, 5)`` rotated boxes in the ground plane.

        LiDAR: ``(x, y, l, w, yaw)`` in the x-y plane; camera: ``(x, z, l, w,
        -ry)`` in the x-z plane. In both, the angle rotates from the first
        axis toward the second, as :mod:`~.rotated_boxes` expects.
        """
        raise NotImplementedError

    def _as_points(self, points: ArrayLike) -> Tensor:
        pts = torch.as_tensor(points, device=self.device)
        if pts.dim() != 2 or pts.shape[1] < 3:
            raise ValueError(f'points must have shape (P, >=3), '
                             f'got {tuple(pts.shape)}')
        return pts[:, :3].to(self.dtype)

    def points_in_boxes(self, points: ArrayLike,
                        chunk: int = 2**22) -> Tensor:
        """Which points lie in which boxes (faces included).

        Args:
            points (Tensor | np.ndarray): ``(P, >=3)`` points in the boxes'
                frame; only the first 3 columns are used.
            chunk (int): maximum ``P * N`` processed at once (memory bound).

        Returns:
            Tensor: ``(P, N)`` bool.

        Raises:
            ValueError: if ``points`` is not ``(P, >=3)``.
        """
        pts = self._as_points(points)
        num_pts, num_boxes = pts.shape[0], len(self)
        out = torch.zeros(num_pts, num_boxes, dtype=torch.bool,
                          device=self.device)
        if num_pts == 0 or num_boxes == 0:
            return out
        ctr, axes, half = self.gravity_center, self.axes(), self.lwh / 2
        # local[p, n, k] = axes[n, k] . (pts[p] - ctr[n]) as one matrix product
        flat_axes = axes.reshape(num_boxes * 3, 3)  # (3N, 3)
        offset = (axes @ ctr[:, :, None]).reshape(1, num_boxes, 3)
        step = max(1, chunk // num_boxes)
        for s in range(0, num_pts, step):
            local = (pts[s:s + step] @ flat_axes.T).reshape(-1, num_boxes, 3)
            out[s:s + step] = ((local - offset).abs() <= half[None]).all(-1)
        return out

    def points_in_boxes_idx(self, points: ArrayLike) -> Tensor:
        """Index of the box containing each point.

        Args:
            points (Tensor | np.ndarray): ``(P, >=3)`` points.

        Returns:
            Tensor: ``(P,)`` int64, the lowest index of a box containing the
            point, or -1 when none does.
        """
        mask = self.points_in_boxes(points)
        if mask.shape[1] == 0:
            return torch.full((mask.shape[0],), -1, dtype=torch.long,
                              device=mask.device)
        first = mask.to(torch.uint8).argmax(dim=1)
        return torch.where(mask.any(dim=1), first, torch.full_like(first, -1))

    # ---------------------------------------------------------- frames
    @staticmethod
    def _from_center_heading(center: Tensor, heading: Tensor, lwh: Tensor,
                             extra: Tensor) -> 'BaseBoxes3D':
        """Boxes from gravity centres, heading vectors and (l, w, h) sizes."""
        raise NotImplementedError

    def convert_to(self, frame: str,
                   rt_mat: Optional[ArrayLike] = None) -> 'BaseBoxes3D':
        """Express the boxes in another frame.

        The gravity centre is transformed by ``rt_mat`` and the heading vector
        by its rotation; sizes are kept (any tilt of the transform is dropped:
        boxes stay upright in the destination frame). Velocity columns (7, 8)
        are rotated as ground-plane vectors.

        Args:
            frame (str): ``'lidar'`` or ``'camera'`` (alias ``'cam'``).
            rt_mat (Tensor | np.ndarray, optional): ``(4, 4)`` / ``(3, 4)``
                rigid transform from this frame to ``frame``
                (e.g. ``lidar2cam``). None -> the pure axis permutation between
                a KITTI-style LiDAR (x forward, y left, z up) and a camera
                (x right, y down, z forward), or the identity for the same
                frame. Pass the real matrix for nuScenes (x right, y forward).

        Returns:
            LiDARBoxes3D | CameraBoxes3D: boxes in ``frame``, dtype kept.

        Raises:
            ValueError: for an unknown frame or a bad matrix shape.
        """
        frame = {'cam': 'camera'}.get(frame, frame)
        if frame not in ('lidar', 'camera'):
            raise ValueError("frame must be 'lidar' or 'camera', "
                             f'got {frame!r}')
        if rt_mat is None:
            axes = torch.tensor(_LIDAR2CAM_AXES, dtype=torch.float64,
                                device=self.device)
            if frame == self.frame:
                rt = torch.eye(4, dtype=torch.float64, device=self.device)
            elif self.frame == 'lidar':
                rt = axes
            else:
                rt = axes.T  # the inverse of a permutation
        else:
            rt = _as_matrix(rt_mat, 'rt_mat', self.tensor)
        rot, trans = rt[:3, :3], rt[:3, 3]
        ctr = self.gravity_center.to(torch.float64) @ rot.T + trans
        heading = self.axes()[:, 0].to(torch.float64) @ rot.T
        extra = self.tensor[:, 7:].to(torch.float64).clone()
        if self.box_dim >= 9:
            vel = self._velocity3d().to(torch.float64) @ rot.T
            extra[:, :2] = _velocity_bev(frame, vel)
        cls = LiDARBoxes3D if frame == 'lidar' else CameraBoxes3D
        out = cls._from_center_heading(ctr, heading,
                                       self.lwh.to(torch.float64), extra)
        return cls(out.tensor.to(self.dtype))

    def _velocity3d(self) -> Tensor:
        raise NotImplementedError

    def project_to_image(
        self,
        cam2img: ArrayLike,
        lidar2cam: Optional[ArrayLike] = None,
        min_depth: float = 1e-2,
        return_depth: bool = False
    ) -> Union[Tuple[Tensor, Tensor], Tuple[Tensor, Tensor, Tensor]]:
        """Project the 8 corners into an image.

        Args:
            cam2img (Tensor | np.ndarray): camera intrinsics ``(3, 3)`` or a
                projection ``(3, 4)`` / ``(4, 4)`` (KITTI ``P2`` with its
                translation column) mapping camera points to homogeneous
                pixels.
            lidar2cam (Tensor | np.ndarray, optional): ``(4, 4)`` LiDAR ->
                camera transform; required for :class:`LiDARBoxes3D` (pass an
                identity if ``cam2img`` already is ``lidar2img``) and must be
                None for :class:`CameraBoxes3D`.
            min_depth (float): corners with projective depth
                ``<= min_depth`` (metres) are flagged invalid.
            return_depth (bool): also return the ``(N, 8)`` depths.

        Returns:
            tuple: ``uv`` ``(N, 8, 2)`` pixel coordinates (``(u, v)``, u right,
            v down), ``valid`` ``(N, 8)`` bool (corner in front of the camera),
            and ``depth`` ``(N, 8)`` if requested. Invalid corners still get
            finite (meaningless) coordinates.

        Raises:
            ValueError: for bad matrix shapes or a missing/unexpected
                ``lidar2cam``.
        """
        proj = _as_matrix(cam2img, 'cam2img', self.tensor)
        if self.frame == 'lidar':
            if lidar2cam is None:
                raise ValueError('lidar2cam (4x4) is required to project '
                                 'LiDARBoxes3D; pass an identity if cam2img '
                                 'already maps LiDAR points to pixels')
            proj = proj @ _as_matrix(lidar2cam, 'lidar2cam', self.tensor)
        elif lidar2cam is not None:
            raise ValueError('lidar2cam must be None for CameraBoxes3D')
        corners = self.corners.to(torch.float64).reshape(-1, 3)
        hom = torch.cat([corners, corners.new_ones(len(corners), 1)], 1)
        pix = hom @ proj[:3].T
        depth = pix[:, 2]
        safe = torch.where(depth.abs() < 1e-6, torch.full_like(depth, 1e-6),
                           depth)
        uv = (pix[:, :2] / safe[:, None]).reshape(-1, 8, 2).to(self.dtype)
        depth = depth.reshape(-1, 8)
        valid = depth > min_depth
        if return_depth:
            return uv, valid, depth.to(self.dtype)
        return uv, valid


def _velocity_bev(frame: str, vel3d: Tensor) -> Tensor:
    if frame == 'lidar':
        return vel3d[:, [0, 1]]
    return vel3d[:, [0, 2]]


class LiDARBoxes3D(BaseBoxes3D):
    """Boxes ``(x, y, z_center, l, w, h, yaw[, vx, vy, ...])`` in the LiDAR frame.

    x forward, y left, z up; ``z`` is the gravity centre; ``yaw`` rotates
    counter-clockwise around +z from +x; ``l`` along the heading. See the
    module docstring for the verification against nuScenes ``num_lidar_pts``.
    """

    frame = 'lidar'

    @property
    def lwh(self) -> Tensor:
        return self.tensor[:, 3:6]

    @property
    def gravity_center(self) -> Tensor:
        return self.tensor[:, :3]

    @property
    def bottom_center(self) -> Tensor:
        return self._stored_center_moved(axis=2, size_col=5)

    @property
    def top_height(self) -> Tensor:
        """``(N,)`` z of the top faces."""
        return self.tensor[:, 2] + self.tensor[:, 5] / 2

    @property
    def bottom_height(self) -> Tensor:
        """``(N,)`` z of the bottom faces."""
        return self.tensor[:, 2] - self.tensor[:, 5] / 2

    def axes(self) -> Tensor:
        yaw = self.tensor[:, 6]
        cos, sin = torch.cos(yaw), torch.sin(yaw)
        zero, one = torch.zeros_like(yaw), torch.ones_like(yaw)
        fwd = torch.stack([cos, sin, zero], -1)
        left = torch.stack([-sin, cos, zero], -1)
        up = torch.stack([zero, zero, one], -1)
        return torch.stack([fwd, left, up], 1)

    @property
    def bev(self) -> Tensor:
        return self.tensor[:, [0, 1, 3, 4, 6]]

    def _velocity3d(self) -> Tensor:
        v = self.tensor[:, 7:9]
        return torch.cat([v, torch.zeros_like(v[:, :1])], 1)

    @staticmethod
    def _from_center_heading(center: Tensor, heading: Tensor, lwh: Tensor,
                             extra: Tensor) -> 'LiDARBoxes3D':
        yaw = torch.atan2(heading[:, 1], heading[:, 0])
        return LiDARBoxes3D(
            torch.cat([center, lwh, yaw[:, None], extra], 1))


class CameraBoxes3D(BaseBoxes3D):
    """Boxes ``(x, y, z_bottom, l, h, w, ry[, vx, vz, ...])`` in a camera frame.

    x right, y down, z forward (KITTI rectified camera); ``(x, y, z)`` is the
    bottom centre; heading ``(cos ry, 0, -sin ry)``; ``l`` along the heading,
    ``h`` vertical, ``w`` across.
    """

    frame = 'camera'

    @property
    def lwh(self) -> Tensor:
        return self.tensor[:, [3, 5, 4]]

    @property
    def gravity_center(self) -> Tensor:
        return self._stored_center_moved(axis=1, size_col=4)

    @property
    def bottom_center(self) -> Tensor:
        return self.tensor[:, :3]

    def axes(self) -> Tensor:
        ry = self.tensor[:, 6]
        cos, sin = torch.cos(ry), torch.sin(ry)
        zero, one = torch.zeros_like(ry), torch.ones_like(ry)
        fwd = torch.stack([cos, zero, -sin], -1)
        left = torch.stack([sin, zero, cos], -1)
        up = torch.stack([zero, -one, zero], -1)
        return torch.stack([fwd, left, up], 1)

    @property
    def bev(self) -> Tensor:
        t = self.tensor
        return torch.stack([t[:, 0], t[:, 2], t[:, 3], t[:, 5], -t[:, 6]], -1)

    def _velocity3d(self) -> Tensor:
        v = self.tensor[:, 7:9]
        return torch.stack([v[:, 0], torch.zeros_like(v[:, 0]), v[:, 1]], 1)

    @staticmethod
    def _from_center_heading(center: Tensor, heading: Tensor, lwh: Tensor,
                             extra: Tensor) -> 'CameraBoxes3D':
        ry = torch.atan2(-heading[:, 2], heading[:, 0])
        bottom = center.clone()
        bottom[:, 1] = bottom[:, 1] + lwh[:, 2] / 2
        dims = lwh[:, [0, 2, 1]]  # (l, h, w)
        return CameraBoxes3D(torch.cat([bottom, dims, ry[:, None], extra], 1))

