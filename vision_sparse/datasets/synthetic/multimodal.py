"""Synthetic LiDAR + multi-camera driving scenes with exact 3-D ground truth (SparseFusion).

A scene is a flat textured road (the ground plane), a square of building walls around it
and a few upright 3-D boxes (cars, trucks, pedestrians, traffic cones, barriers) with
realistic sizes, random yaws and, for the moving classes, a velocity along the heading.
Every box face is a :class:`~vision_sparse.datasets.synthetic.scene.TexturedQuad` and the
rays are cast by :class:`~vision_sparse.datasets.synthetic.scene.SyntheticScene` (its
vectorised ray-quad intersection), so one geometry serves both sensors:

* **LiDAR**: a 32-beam spinning sweep like nuScenes ``LIDAR_TOP``, with the beam pattern
  measured from the real sweep of the shared sample (34,688 points): beam elevations
  ``-30.67 + 4/3 k`` degrees (``k = 0..31``, the median elevation of each ring lies within
  0.02 degrees of this), an azimuth step of 0.332 degrees (1084 firings per ring) and the
  sensor 1.85 m above the ground (the mode of the near ground points' z is -1.85 m). Each
  return gets range noise (Gaussian, ``range_noise`` metres along the ray), random
  dropout, and an intensity in 0..255 from a per-surface reflectance and the incidence
  angle. Points have the 5 columns of the real data: ``(x, y, z, intensity, ring)``.
* **Cameras**: the 6 views are rendered with a real keyframe's calibration (``cam2img``,
  ``lidar2cam`` from an mmdet3d info pickle read by
  :func:`~vision_sparse.datasets.formats.nuscenes_info.load_det3d_info`) or, without one,
  a built-in ring of 6 cameras with nuScenes-like placement and intrinsics. Images can
  be rendered at a fraction of 1600x900 (intrinsics scaled by
  :func:`~vision_sparse.structures.cameras.scale_intrinsics`, pixel centres at integers).
  One ray per pixel, nearest texel (no anti-aliasing): every pixel shows exactly one
  surface, and the per-pixel instance map is exact.

Each class has its own colour and pattern (red cars with dark windows, yellow trucks,
blue-and-dark pedestrians, orange cones with white rings, red-and-white barriers), so a
camera-only model can learn the class; the LiDAR reflectance differs per class too.

Frames: the LiDAR frame is the world frame (x right, y forward, z up as nuScenes
``LIDAR_TOP``), the ground is ``z = -sensor_height``. Boxes are
:class:`~vision_sparse.structures.bbox.boxes3d.LiDARBoxes3D` ``(x, y, z, l, w, h, yaw)``
with ``z`` the gravity centre. Everything is deterministic in ``(seed, index)``.
"""
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from vision_sparse.structures.bbox.boxes3d import LiDARBoxes3D
from vision_sparse.structures.cameras import scale_intrinsics

from .scene import SyntheticScene, TexturedQuad, load_texture_photos

__all__ = [
    'FUSION_CLASSES', 'CLASS_SPECS', 'NUSCENES_BEAM_ELEVATIONS_DEG', 'NUSCENES_AZIMUTH_STEP_DEG',
    'NUSCENES_SENSOR_HEIGHT', 'NUSCENES_IMAGE_SIZE', 'default_camera_rig', 'load_camera_rig',
    'make_fusion_scene'
]

#: the classes of the synthetic scenes, in label order.
FUSION_CLASSES = ('car', 'truck', 'pedestrian', 'traffic_cone', 'barrier')

#: per class: mean (l, w, h) metres (nuScenes-like), relative size spread, top speed (m/s),
#: LiDAR reflectance (0..255) and the RGB body colour.
CLASS_SPECS: Dict[str, Dict] = {
    'car': dict(size=(4.6, 1.95, 1.7), spread=0.08, speed=10.0, reflect=45.0,
                colour=(200, 30, 35)),
    'truck': dict(size=(6.8, 2.5, 2.9), spread=0.1, speed=8.0, reflect=35.0,
                  colour=(225, 185, 25)),
    'pedestrian': dict(size=(0.7, 0.65, 1.75), spread=0.08, speed=1.5, reflect=18.0,
                       colour=(35, 70, 215)),
    'traffic_cone': dict(size=(0.42, 0.42, 1.05), spread=0.06, speed=0.0, reflect=140.0,
                         colour=(255, 120, 0)),
    'barrier': dict(size=(0.5, 2.5, 1.0), spread=0.05, speed=0.0, reflect=90.0,
                    colour=(215, 25, 40)),
}

#: elevation of the 32 beams (ring 0 = lowest), degrees, measured on the real sweep.
NUSCENES_BEAM_ELEVATIONS_DEG = -30.67 + np.arange(32) * (4.0 / 3.0)
#: azimuth step between two firings of one beam, degrees (median on the real sweep).
NUSCENES_AZIMUTH_STEP_DEG = 0.332
#: height of the LiDAR above the ground, metres (mode of the ground points' z).
NUSCENES_SENSOR_HEIGHT = 1.85
#: full nuScenes camera image (width, height).
NUSCENES_IMAGE_SIZE = (1600, 900)
#: nuScenes camera names in the order of the info pickles.
_CAM_NAMES = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
              'CAM_BACK_RIGHT')
#: owner ids of the surfaces that are not objects.
GROUND, WALL, SKY = -1, -2, -3


# --------------------------------------------------------------------------
# cameras
# --------------------------------------------------------------------------
def default_camera_rig() -> Dict[str, Dict[str, np.ndarray]]:
    """Six cameras placed like the nuScenes rig (used when no calibration file is given).

    Optical axes at azimuths 90 (front), 35, 145, -90 (back), -160 and -20 degrees in the
    LiDAR frame (x right, y forward), 0.3 m below the LiDAR, level; focal length 1260 px
    (back camera 810 px) at 1600x900.

    Returns:
        dict: ``{name: dict(cam2img (3, 3), lidar2cam (4, 4))}`` float64.
    """
    yaws = (90.0, 35.0, 145.0, -90.0, -160.0, -20.0)
    rig = {}
    for name, yaw_deg in zip(_CAM_NAMES, yaws):
        yaw = math.radians(yaw_deg)
        fwd = np.array([math.cos(yaw), math.sin(yaw), 0.0])
        right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
        c2l = np.eye(4)
        c2l[:3, 0], c2l[:3, 1], c2l[:3, 2] = right, (0.0, 0.0, -1.0), fwd
        c2l[:3, 3] = 0.4 * fwd + np.array([0.0, 0.0, -0.3])
        f = 810.0 if name == 'CAM_BACK' else 1260.0
        rig[name] = dict(cam2img=np.array([[f, 0, 799.5], [0, f, 449.5], [0, 0, 1.0]]),
                         lidar2cam=np.linalg.inv(c2l))
    return rig


def load_camera_rig(info_path: Union[str, Path], index: int = 0
                    ) -> Dict[str, Dict[str, np.ndarray]]:
    """The camera calibration of one sample of an mmdet3d info pickle.

    Args:
        info_path (str | Path): the ``.pkl`` (e.g. the nuScenes sample of ``shared/data``).
        index (int): which sample.

    Returns:
        dict: ``{name: dict(cam2img (3, 3), lidar2cam (4, 4))}`` float64, for every camera
        that has both.

    Raises:
        ValueError: if the sample has no camera with ``cam2img`` and ``lidar2cam``.
    """
    from vision_sparse.datasets.formats.nuscenes_info import load_det3d_info
    sample = load_det3d_info(info_path)[index]
    rig = {}
    for name, cam in sample['cameras'].items():
        if cam.get('cam2img') is None or cam.get('lidar2cam') is None:
            continue
        rig[name] = dict(cam2img=np.asarray(cam['cam2img'], np.float64)[:3, :3],
                         lidar2cam=np.asarray(cam['lidar2cam'], np.float64))
    if not rig:
        raise ValueError(f'{info_path}: sample {index} has no camera with cam2img and lidar2cam')
    return rig


# --------------------------------------------------------------------------
# textures (RGB uint8)
# --------------------------------------------------------------------------
def _class_textures(name: str, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """(side, top) textures of one object of class ``name``; rows run downwards."""
    base = np.asarray(CLASS_SPECS[name]['colour'], np.float32) * rng.uniform(0.85, 1.1)
    side = np.empty((16, 32, 3), np.float32)
    side[:] = base
    rows, cols = np.mgrid[:16, :32]
    if name in ('car', 'truck'):
        side[3:7] = (35, 40, 50)  # windows (cabin band)
        side[13:] = side[13:] * 0.35  # dark wheel band
        if name == 'truck':
            side[:, ::8] *= 0.6  # panel seams
    elif name == 'pedestrian':
        side[:2] = (225, 185, 150)  # head
        side[9:] = (25, 25, 40)  # legs
    elif name == 'traffic_cone':
        side[((rows // 3) % 2 == 1) & (rows < 12)] = (245, 245, 245)  # white rings
        side[13:] = (30, 30, 30)  # base
    elif name == 'barrier':
        side[((cols + rows) // 4) % 2 == 0] = (240, 240, 240)  # diagonal stripes
    top = np.empty((8, 8, 3), np.float32)
    top[:] = side[0, 0] if name != 'car' else base
    noise = rng.normal(0, 6, side.shape)
    side = np.clip(side + noise, 0, 255).astype(np.uint8)
    return side, np.clip(top, 0, 255).astype(np.uint8)


def _ground_texture(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Grey asphalt: coarse and fine noise."""
    coarse = np.kron(rng.normal(0, 6, (size // 16, size // 16)), np.ones((16, 16)))
    g = 95 + coarse + rng.normal(0, 5, (size, size))
    return np.repeat(np.clip(g, 0, 255)[..., None], 3, -1).astype(np.uint8)


def _wall_textures(count: int, texture_root) -> List[np.ndarray]:
    """Muted (mostly grey) building facades: photos or procedural, desaturated."""
    out = []
    for tex in load_texture_photos(count, seed=0, max_side=256, data_root=texture_root):
        t = tex.astype(np.float32)
        grey = t.mean(-1, keepdims=True)
        out.append(np.clip(0.8 * grey + 0.2 * t, 0, 255).astype(np.uint8))
    return out


# --------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------
def _sample_boxes(rng: np.random.Generator, classes: Sequence[str], num_objects: int,
                  radius: Tuple[float, float], ground_z: float):
    """Non-overlapping upright boxes: ``(M, 9)`` float64 boxes and ``(M,)`` labels."""
    boxes, labels, discs = [], [], []
    tries = 0
    while len(boxes) < num_objects and tries < 50 * num_objects:
        tries += 1
        label = int(rng.integers(len(classes)))
        spec = CLASS_SPECS[classes[label]]
        jitter = (1 + spec['spread'] * rng.standard_normal(3)).clip(0.8, 1.2)
        lwh = np.asarray(spec['size']) * jitter
        r = math.sqrt(rng.uniform(radius[0] ** 2, radius[1] ** 2))
        az = rng.uniform(-math.pi, math.pi)
        xy = np.array([r * math.cos(az), r * math.sin(az)])
        half_diag = 0.5 * math.hypot(lwh[0], lwh[1])
        if any(np.hypot(*(xy - c)) < half_diag + rc + 0.3 for c, rc in discs):
            continue
        yaw = rng.uniform(-math.pi, math.pi)
        moving = spec['speed'] > 0 and rng.random() < 0.5
        speed = rng.uniform(0.3, 1.0) * spec['speed'] if moving else 0.0
        boxes.append([xy[0], xy[1], ground_z + lwh[2] / 2, *lwh, yaw,
                      speed * math.cos(yaw), speed * math.sin(yaw)])
        labels.append(label)
        discs.append((xy, half_diag))
    return np.asarray(boxes, np.float64).reshape(-1, 9), np.asarray(labels, np.int64)


def _box_faces(corners: np.ndarray, side: np.ndarray, top: np.ndarray) -> List[TexturedQuad]:
    """Four sides and the top of one box (corner order of ``LiDARBoxes3D.corners``).

    Each face starts at a top corner, ``edge_u`` runs along the top edge and ``edge_v``
    down to the bottom, so texture rows run downwards.
    """
    c = corners
    faces = [(5, 4, 1), (7, 6, 3), (4, 7, 0), (6, 5, 2)]  # front, rear, left, right
    quads = [TexturedQuad(c[o], c[u] - c[o], c[v] - c[o], side) for o, u, v in faces]
    quads.append(TexturedQuad(c[7], c[4] - c[7], c[6] - c[7], top))
    return quads


class _Sampler:
    """Nearest-texel colour lookup of every quad at once (textures stored back to back)."""

    def __init__(self, quads: Sequence[TexturedQuad]) -> None:
        self.h = torch.tensor([q.texture.shape[0] for q in quads])
        self.w = torch.tensor([q.texture.shape[1] for q in quads])
        sizes = self.h * self.w
        self.offset = torch.cumsum(sizes, 0) - sizes
        self.texels = torch.from_numpy(np.concatenate(
            [np.ascontiguousarray(q.texture).reshape(-1, 3) for q in quads]))

    def __call__(self, idx: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """``(R, 3)`` uint8 colours at quad coordinates ``ab`` (``a`` along ``edge_u``)."""
        q = idx.clamp_min(0)
        w, h = self.w[q], self.h[q]
        col = (ab[:, 0] * w).long().clamp(min=0).minimum(w - 1)
        row = (ab[:, 1] * h).long().clamp(min=0).minimum(h - 1)
        return self.texels[self.offset[q] + row * w + col]


def _check_rig(rig: Dict[str, Dict]) -> None:
    for name, cam in rig.items():
        K = np.asarray(cam.get('cam2img'), np.float64)
        if K.shape != (3, 3) or not np.isfinite(K).all() or abs(np.linalg.det(K)) < 1e-12:
            raise ValueError(f'camera {name}: cam2img must be a finite invertible (3, 3), '
                             f'got shape {K.shape}')
        T = np.asarray(cam.get('lidar2cam'), np.float64)
        if T.shape != (4, 4) or not np.isfinite(T).all() or abs(np.linalg.det(T)) < 1e-12:
            raise ValueError(f'camera {name}: lidar2cam must be a finite invertible (4, 4), '
                             f'got shape {T.shape}')


def make_fusion_scene(seed: int = 0,
                      index: int = 0,
                      classes: Sequence[str] = FUSION_CLASSES,
                      num_objects: Tuple[int, int] = (8, 16),
                      object_radius: Tuple[float, float] = (4.0, 30.0),
                      image_scale: float = 0.125,
                      camera_rig: Optional[Dict[str, Dict]] = None,
                      full_image_size: Tuple[int, int] = NUSCENES_IMAGE_SIZE,
                      beam_elevations_deg: Sequence[float] = tuple(NUSCENES_BEAM_ELEVATIONS_DEG),
                      azimuth_step_deg: float = NUSCENES_AZIMUTH_STEP_DEG,
                      sensor_height: float = NUSCENES_SENSOR_HEIGHT,
                      max_range: float = 70.0,
                      range_noise: float = 0.02,
                      dropout: float = 0.1,
                      wall_distance: float = 42.0,
                      wall_height: float = 14.0,
                      texture_root: Optional[Union[str, Path]] = None) -> Dict:
    """One synthetic LiDAR + 6-camera scene with its exact ground truth.

    Args:
        seed (int): dataset seed; with ``index`` it fixes everything random.
        index (int): scene number within the seed.
        classes (Sequence[str]): class names (subset of :data:`CLASS_SPECS`), label order.
        num_objects (tuple): inclusive range of the number of boxes.
        object_radius (tuple): boxes stand at these ground distances from the LiDAR, metres.
        image_scale (float): rendered size = ``full_image_size * image_scale`` (rounded).
        camera_rig (dict, optional): ``{name: dict(cam2img (3, 3) at the full image size,
            lidar2cam (4, 4))}`` (see :func:`load_camera_rig`); default
            :func:`default_camera_rig`.
        full_image_size (tuple): ``(width, height)`` the rig's ``cam2img`` belongs to.
        beam_elevations_deg (Sequence[float]): one elevation per beam (ring), degrees.
        azimuth_step_deg (float): horizontal angle between firings, degrees.
        sensor_height (float): LiDAR height above the ground, metres.
        max_range (float): returns farther than this are lost, metres.
        range_noise (float): standard deviation of the range noise, metres.
        dropout (float): probability that a return is lost.
        wall_distance (float): the building walls stand at ``|x| = |y| =`` this.
        wall_height (float): their height above the ground, metres.
        texture_root (str | Path, optional): sample-data folder whose photos (desaturated)
            texture the walls; None: procedural.

    Returns:
        dict: the layout of one
        :func:`~vision_sparse.datasets.formats.nuscenes_info.load_det3d_info` entry
        (``sample_idx``, ``dataset='synthetic'``, ``lidar_path=None``, ``num_pts_feats=5``,
        ``cameras`` with ``cam2img`` (3, 3) for the RENDERED size,
        ``lidar2cam``, ``lidar2img``, ``height``, ``width``; ``gt_bboxes_3d``
        :class:`LiDARBoxes3D` ``(M, 7)`` float64, ``gt_labels_3d`` ``(M,)`` int64,
        ``gt_names``, ``class_names``, ``velocity`` ``(M, 2)`` m/s, ``num_lidar_pts``
        ``(M,)`` (exact count of points in each box), ``valid_flag`` = ``num_lidar_pts > 0``
        (nuScenes: boxes without a LiDAR point are not valid training targets) ...) plus

        - ``points`` ``(N, 5)`` float32 ``(x, y, z, intensity 0..255, ring)``;
        - ``images`` ``{name: (H, W, 3) uint8 BGR}``;
        - ``point_owner`` ``(N,)`` int64: the box a point hit (index into the boxes), -1
          ground, -2 wall;
        - ``instance_maps`` ``{name: (H, W) int16}``: what each pixel centre sees (box
          index, -1 ground, -2 wall, -3 sky); ``depth_maps`` ``{name: (H, W) float32}``
          z-depth in metres (0 for sky).

    Raises:
        ValueError: for an unknown class, a bad scale / range or a malformed camera rig.
    """
    unknown = [c for c in classes if c not in CLASS_SPECS]
    if unknown or not classes:
        raise ValueError(f'classes must be a non-empty subset of {sorted(CLASS_SPECS)}, '
                         f'got unknown {unknown}')
    if not image_scale > 0:
        raise ValueError(f'image_scale must be > 0, got {image_scale}')
    if not 0 <= dropout < 1:
        raise ValueError(f'dropout must be in [0, 1), got {dropout}')
    if not 0 < object_radius[0] < object_radius[1] < wall_distance:
        raise ValueError(f'object_radius must be 0 < near < far < wall_distance, got '
                         f'{object_radius}')
    rig = default_camera_rig() if camera_rig is None else camera_rig
    _check_rig(rig)
    rng = np.random.default_rng([int(seed), int(index)])
    ground_z = -float(sensor_height)

    # ---- objects and surfaces
    count = int(rng.integers(num_objects[0], num_objects[1] + 1))
    boxes, labels = _sample_boxes(rng, list(classes), count, object_radius, ground_z)
    lidar_boxes = LiDARBoxes3D(boxes[:, :7])
    corners = lidar_boxes.corners.numpy()
    quads: List[TexturedQuad] = []
    owner: List[int] = []
    reflect: List[float] = []
    for k in range(len(boxes)):
        name = classes[labels[k]]
        faces = _box_faces(corners[k], *_class_textures(name, rng))
        quads += faces
        owner += [k] * len(faces)
        reflect += [CLASS_SPECS[name]['reflect']] * len(faces)
    d, top = float(wall_distance), ground_z + float(wall_height)
    quads.append(TexturedQuad(np.array([-d, -d, ground_z]), np.array([2 * d, 0, 0.]),
                              np.array([0, 2 * d, 0.]), _ground_texture(rng)))
    owner.append(GROUND)
    reflect.append(10.0)
    wall_tex = _wall_textures(8, texture_root)
    wall_tex = [wall_tex[i] for i in rng.permutation(len(wall_tex))[:4]]
    for i, (x0, y0, dx, dy) in enumerate([(-d, d, 2 * d, 0), (d, d, 0, -2 * d),
                                          (d, -d, -2 * d, 0), (-d, -d, 0, 2 * d)]):
        quads.append(TexturedQuad(np.array([x0, y0, top]), np.array([dx, dy, 0.]),
                                  np.array([0, 0, ground_z - top]), wall_tex[i]))
        owner.append(WALL)
        reflect.append(25.0)
    scene = SyntheticScene(quads, np.eye(3), (1, 1), supersample=1)
    owner_t = torch.tensor(owner + [SKY])  # index -1 (no hit) -> SKY
    normals = torch.from_numpy(np.stack([np.cross(q.edge_u, q.edge_v) for q in quads]))
    normals = normals / normals.norm(dim=1, keepdim=True)

    # ---- LiDAR sweep
    elev = np.deg2rad(np.asarray(beam_elevations_deg, np.float64))
    az0 = rng.uniform(0, azimuth_step_deg)
    az = np.deg2rad(az0 + np.arange(0, 360, azimuth_step_deg))
    ring, azg = np.meshgrid(np.arange(len(elev)), az, indexing='ij')
    el = elev[ring]
    dirs = torch.from_numpy(np.stack([np.cos(el) * np.cos(azg), np.cos(el) * np.sin(azg),
                                      np.sin(el)], -1).reshape(-1, 3))
    t, idx, _ = scene._cast(torch.zeros(3, dtype=torch.float64), dirs)
    rng_t = t.numpy() + rng.normal(0, range_noise, t.shape[0])
    keep = (idx.numpy() >= 0) & (t.numpy() <= max_range) & (rng.random(t.shape[0]) >= dropout)
    keep &= rng_t > 0.5
    hit = idx[torch.from_numpy(keep)]
    xyz = dirs.numpy()[keep] * rng_t[keep, None]
    cos_inc = (dirs[torch.from_numpy(keep)] * normals[hit]).sum(-1).abs().numpy()
    base = np.asarray(reflect)[hit.numpy()]
    intensity = base * (0.3 + 0.7 * cos_inc) + rng.normal(0, 2.0, len(base))
    points = np.concatenate([xyz, np.clip(np.round(intensity), 0, 255)[:, None],
                             ring.reshape(-1)[keep][:, None]], 1).astype(np.float32)
    point_owner = owner_t[hit].numpy().astype(np.int64)

    # ---- cameras
    W = max(1, int(round(full_image_size[0] * image_scale)))
    H = max(1, int(round(full_image_size[1] * image_scale)))
    sx, sy = W / full_image_size[0], H / full_image_size[1]
    sampler = _Sampler(quads)
    vs, us = torch.meshgrid(torch.arange(H, dtype=torch.float64),
                            torch.arange(W, dtype=torch.float64), indexing='ij')
    pix = torch.stack([us, vs, torch.ones_like(us)], -1).reshape(-1, 3)
    cameras, images, inst_maps, depth_maps = {}, {}, {}, {}
    for name, cam in rig.items():
        K = scale_intrinsics(np.asarray(cam['cam2img'], np.float64)[:3, :3], sx, sy)
        l2c = np.asarray(cam['lidar2cam'], np.float64)
        c2l = np.linalg.inv(l2c)
        ray = (pix @ torch.from_numpy(np.linalg.inv(K)).T) @ torch.from_numpy(c2l[:3, :3]).T
        t_c, idx_c, ab_c = scene._cast(torch.from_numpy(c2l[:3, 3]), ray.float())
        colour = sampler(idx_c, ab_c)
        colour[idx_c < 0] = torch.tensor([200, 210, 225], dtype=torch.uint8)  # sky (RGB)
        images[name] = np.ascontiguousarray(colour.reshape(H, W, 3).numpy()[..., ::-1])
        inst_maps[name] = owner_t[idx_c].reshape(H, W).numpy().astype(np.int16)
        depth_maps[name] = t_c.reshape(H, W).numpy().astype(np.float32)
        K4 = np.eye(4)
        K4[:3, :3] = K
        cameras[name] = dict(img_path=None, cam2img=K, lidar2cam=l2c, lidar2img=K4 @ l2c,
                             cam2ego=None, height=H, width=W, timestamp=None,
                             sample_data_token=None)

    names = [classes[k] for k in labels]
    lidar2ego = np.eye(4)
    lidar2ego[2, 3] = sensor_height
    num_pts = lidar_boxes.points_in_boxes(points.astype(np.float64)).sum(0).numpy()
    return dict(
        sample_idx=int(index), token=None, timestamp=None, dataset='synthetic',
        box_frame='lidar', lidar_path=None, num_pts_feats=5, lidar2ego=lidar2ego,
        ego2global=np.eye(4), cameras=cameras, gt_bboxes_3d=lidar_boxes,
        gt_labels_3d=labels, gt_names=names, class_names=tuple(classes),
        velocity=boxes[:, 7:9].copy(), num_lidar_pts=num_pts.astype(np.int64),
        valid_flag=num_pts > 0, gt_bboxes_2d=None,
        ignore_bboxes_2d=np.zeros((0, 4)), cam_instances={}, extra={},
        points=points, images=images, point_owner=point_owner,
        instance_maps=inst_maps, depth_maps=depth_maps)
