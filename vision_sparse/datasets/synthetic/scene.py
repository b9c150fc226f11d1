"""Synthetic posed RGB-D scenes with exact ground truth, for relocalization.

A scene is a set of textured planar rectangles (:class:`TexturedQuad`): a room
of walls, floor and ceiling plus a few boxes, textured with real photographs
from a sample-data folder given as ``texture_root`` (procedural textures when it
is not given or holds no photos).
:class:`SyntheticScene` ray-casts it at any pinhole camera pose, giving the
colour image and the exact z-depth, so that tracking, triangulation,
landmark training and relocalization can be tested against known geometry.

Conventions (see :mod:`vision_sparse.structures.cameras`):

* World frame: x right, y forward, z up, metres. The room floor is ``z = 0``.
* Camera frame: x right, y down, z forward (OpenCV). Poses are camera-to-world
  ``T_c2w`` (4, 4), like 7-Scenes ``pose.txt``.
* Pixel ``(u, v)`` is the centre of column ``u``, row ``v`` (integer at pixel
  centres, as in OpenCV), so ``K`` maps camera points to those coordinates.

Nothing here needs more than numpy, torch and OpenCV (for reading photos).
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    'TexturedQuad', 'SyntheticScene', 'load_texture_photos', 'make_textured_room',
    'look_at_pose', 'make_orbit_trajectory', 'make_strafe_trajectory', 'perturb_pose',
    'synthetic_relocalization_scene'
]


@dataclass
class TexturedQuad:
    """A textured planar rectangle ``origin + a * edge_u + b * edge_v``, ``a, b in [0, 1]``.

    Attributes:
        origin (np.ndarray): (3,) corner, world frame, metres.
        edge_u (np.ndarray): (3,) first edge; texture columns run along it.
        edge_v (np.ndarray): (3,) second edge; texture rows run along it.
        texture (np.ndarray): (Ht, Wt, 3) uint8 RGB; texel ``(0, 0)`` sits at ``origin``.
    """
    origin: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    texture: np.ndarray


# --------------------------------------------------------------------------
# textures
# --------------------------------------------------------------------------
_PHOTO_GLOBS = ('matching/scannet_pairs/scannet_sample_images/*.jpg',
                'lidar_camera/nuscenes/*.jpg', 'oriented/dota/images/*.png',
                'oriented/dior/JPEGImage/*.jpg', 'lidar_camera/kitti/*.png')


def _procedural_texture(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """Multi-scale coloured noise with random discs: a feature-rich fallback texture."""
    img = np.zeros((size, size, 3), np.float32)
    for cells in (4, 16, 64):
        noise = rng.random((cells, cells, 3)).astype(np.float32)
        up = F.interpolate(torch.from_numpy(noise).permute(2, 0, 1)[None], size=(size, size),
                           mode='bicubic', align_corners=False)[0].permute(1, 2, 0).numpy()
        img += up / 3
    yy, xx = np.mgrid[:size, :size]
    for _ in range(60):
        cx, cy, r = rng.integers(0, size, 2).tolist() + [int(rng.integers(4, size // 12))]
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        img[mask] = rng.random(3)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


_PHOTO_CACHE: Dict[tuple, List[np.ndarray]] = {}


def load_texture_photos(count: int, seed: int = 0, max_side: int = 640,
                        data_root: Optional[Union[str, Path]] = None) -> List[np.ndarray]:
    """``count`` RGB uint8 textures: photos from a sample-data folder, else procedural.

    Results are cached per arguments (the arrays are shared: do not modify them).

    Args:
        count (int): number of textures.
        seed (int): selects and orders the photos (and seeds the fallback).
        max_side (int): photos are downscaled so that their longer side is at most this.
        data_root (str | Path, optional): sample-data folder; the photos are those
            matching ``_PHOTO_GLOBS`` below it. None (or a folder without
            such photos): procedural textures.

    Returns:
        list[np.ndarray]: ``count`` arrays (Ht, Wt, 3) uint8.
    """
    root = data_root
    key = (count, seed, max_side, str(root))
    if key not in _PHOTO_CACHE:
        _PHOTO_CACHE[key] = _load_texture_photos(count, seed, max_side, root)
    return list(_PHOTO_CACHE[key])


def _load_texture_photos(count, seed, max_side, root) -> List[np.ndarray]:
    rng = np.random.default_rng(seed)
    paths: List[Path] = []
    if root is not None:
        for pattern in _PHOTO_GLOBS:
            paths.extend(sorted(Path(root).glob(pattern)))
    textures: List[np.ndarray] = []
    if paths:
        import cv2
        order = rng.permutation(len(paths))
        for i in range(count):
            img = cv2.imread(str(paths[order[i % len(paths)]]), cv2.IMREAD_COLOR)
            if img is None:
                textures.append(_procedural_texture(rng))
                continue
            img = img[:, :, ::-1]
            scale = max_side / max(img.shape[:2])
            if scale < 1:
                img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                                 interpolation=cv2.INTER_AREA)
            if i >= len(paths):  # reuse a photo: mirror it so that it does not repeat exactly
                img = img[:, ::-1]
            textures.append(np.ascontiguousarray(img))
    else:
        textures = [_procedural_texture(rng) for _ in range(count)]
    return textures


# --------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------
def _box_quads(center, size, textures) -> List[TexturedQuad]:
    """Five visible faces (no bottom) of an axis-aligned box."""
    c, s = np.asarray(center, np.float64), np.asarray(size, np.float64)
    lo = c - s / 2
    ex, ey, ez = np.array([s[0], 0, 0]), np.array([0, s[1], 0]), np.array([0, 0, s[2]])
    top = lo + ez
    faces = [
        (lo + ez, ex, -ez),                      # front (y = lo): u along +x, rows go down
        (lo + ey + ex + ez, -ex, -ez),           # back  (y = hi)
        (lo + ey + ez, -ey, -ez),                # left  (x = lo)
        (lo + ex + ez, ey, -ez),                 # right (x = hi)
        (top + ey, ex, -ey),                     # top
    ]
    return [TexturedQuad(o, u, v, textures[i % len(textures)]) for i, (o, u, v) in enumerate(faces)]


def _montage(photos: Sequence[np.ndarray], start: int, width_m: float, height_m: float,
             cell_m: float, texels_per_metre: float) -> np.ndarray:
    """A wall texture tiled with different photos, one per ~``cell_m`` square cell."""
    import cv2
    nx = max(1, int(round(width_m / cell_m)))
    ny = max(1, int(round(height_m / cell_m)))
    cw = max(8, int(round(width_m / nx * texels_per_metre)))
    ch = max(8, int(round(height_m / ny * texels_per_metre)))
    rows = []
    for j in range(ny):
        row = []
        for i in range(nx):
            k = start + j * nx + i
            img = photos[k % len(photos)]
            if (k // len(photos)) % 2:  # reused photo: flip so that it does not repeat exactly
                img = img[::-1, ::-1]
            h, w = img.shape[:2]
            aspect = cw / ch
            if w / h > aspect:  # centre crop to the cell's aspect ratio
                nw = int(h * aspect)
                img = img[:, (w - nw) // 2:(w - nw) // 2 + nw]
            else:
                nh = int(w / aspect)
                img = img[(h - nh) // 2:(h - nh) // 2 + nh]
            row.append(cv2.resize(np.ascontiguousarray(img), (cw, ch),
                                  interpolation=cv2.INTER_AREA))
        rows.append(np.concatenate(row, 1))
    return np.ascontiguousarray(np.concatenate(rows, 0))


def make_textured_room(size: Tuple[float, float, float] = (5.0, 5.0, 2.6),
                       num_boxes: int = 3,
                       seed: int = 0,
                       textures: Optional[Sequence[np.ndarray]] = None,
                       texels_per_metre: float = 200.0,
                       cell: float = 1.0,
                       box_sector_deg: Tuple[float, float] = (-150.0, -30.0),
                       texture_root: Optional[Union[str, Path]] = None) -> List[TexturedQuad]:
    """A textured room centred on the origin (floor at ``z = 0``) with boxes inside.

    Every wall, the floor and the ceiling are tiled with different photos (one
    per ``cell`` metres), so that the whole room is feature-rich and no two
    places look alike.

    Args:
        size (tuple): room extent (x, y, z) in metres.
        num_boxes (int): textured boxes standing near the walls.
        seed (int): random box sizes and texture order.
        textures (sequence, optional): RGB uint8 images; default
            :func:`load_texture_photos`.
        texels_per_metre (float): texture resolution; choose about
            ``focal / typical distance`` so texels match image pixels (no aliasing).
        cell (float): side of one photo on the walls, metres.
        box_sector_deg (tuple): azimuth range (degrees, 0 = +x) where boxes stand.
        texture_root (str | Path, optional): sample-data folder of the photos used
            when ``textures`` is None (see :func:`load_texture_photos`).

    Returns:
        list[TexturedQuad]: walls, floor, ceiling and box faces.
    """
    rng = np.random.default_rng(seed)
    sx, sy, sz = (float(v) for v in size)
    if min(sx, sy, sz) <= 0:
        raise ValueError(f'size must be positive (x, y, z) metres, got {size}')
    if textures is None:
        textures = load_texture_photos(48, seed=seed, data_root=texture_root)
    if len(textures) == 0:
        raise ValueError('textures must not be empty')
    x0, x1, y0, y1 = -sx / 2, sx / 2, -sy / 2, sy / 2
    ex, ey, ez = np.array([sx, 0, 0.]), np.array([0, sy, 0.]), np.array([0, 0, sz])
    walls = [
        (np.array([x0, y1, sz]), ex, -ez, sx, sz),    # far wall (y = y1), seen looking +y
        (np.array([x1, y0, sz]), -ex, -ez, sx, sz),   # near wall (y = y0)
        (np.array([x0, y0, sz]), ey, -ez, sy, sz),    # left wall (x = x0)
        (np.array([x1, y1, sz]), -ey, -ez, sy, sz),   # right wall (x = x1)
        (np.array([x0, y0, 0.]), ex, ey, sx, sy),     # floor
        (np.array([x0, y1, sz]), ex, -ey, sx, sy),    # ceiling
    ]
    quads, used = [], int(rng.integers(0, len(textures)))
    for o, u, v, w, h in walls:
        quads.append(TexturedQuad(o, u, v, _montage(textures, used, w, h, cell, texels_per_metre)))
        used += max(1, int(round(w / cell))) * max(1, int(round(h / cell)))
    az = np.deg2rad(np.linspace(box_sector_deg[0], box_sector_deg[1], num_boxes + 2)[1:-1])
    for b in range(num_boxes):
        side = rng.uniform(0.5, 0.8, 3)
        side[2] = rng.uniform(0.6, 1.1)
        radius = 0.62 * min(sx, sy) / 2
        center = np.array([radius * np.cos(az[b]), radius * np.sin(az[b]), side[2] / 2])
        tex = []
        for k in range(5):
            tex.append(_montage(textures, used, 1.0, 1.0, 1.0, texels_per_metre * 0.7))
            used += 1
        quads.extend(_box_quads(center, side, tex))
    return quads


def look_at_pose(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world pose of a camera at ``eye`` looking at ``target``.

    Args:
        eye (array-like): (3,) camera centre, world frame.
        target (array-like): (3,) point on the optical axis.
        up (array-like): (3,) world up; the image ``-y`` axis points towards it.

    Returns:
        np.ndarray: (4, 4) float64 ``T_c2w``.

    Raises:
        ValueError: if ``eye == target`` or the view direction is parallel to ``up``.
    """
    eye, target, up = (np.asarray(a, np.float64) for a in (eye, target, up))
    z = target - eye
    if np.linalg.norm(z) < 1e-12:
        raise ValueError('eye and target must differ')
    z = z / np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError('view direction must not be parallel to up')
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def _rotvec_to_matrix(rv: np.ndarray) -> np.ndarray:
    theta = np.linalg.norm(rv)
    if theta < 1e-15:
        return np.eye(3)
    k = rv / theta
    Kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * Kx + (1 - np.cos(theta)) * Kx @ Kx


def perturb_pose(T_c2w: np.ndarray, translation: float, rotation_deg: float,
                 rng: np.random.Generator) -> np.ndarray:
    """A pose moved by exactly ``translation`` metres and rotated by ``rotation_deg``.

    Args:
        T_c2w (np.ndarray): (4, 4) camera-to-world pose.
        translation (float): length of the random camera-centre offset, metres.
        rotation_deg (float): angle of the random rotation (about the camera centre).
        rng (np.random.Generator): randomness.

    Returns:
        np.ndarray: (4, 4) perturbed ``T_c2w``.
    """
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    a = rng.normal(size=3)
    a /= np.linalg.norm(a)
    out = np.array(T_c2w, np.float64, copy=True)
    out[:3, :3] = _rotvec_to_matrix(a * np.deg2rad(rotation_deg)) @ out[:3, :3]
    out[:3, 3] += translation * d
    return out


def make_orbit_trajectory(num_frames: int, center=(0.0, 0.0, 1.3), radius: float = 0.6,
                          arc_deg: Tuple[float, float] = (-120.0, -60.0),
                          look_distance: float = 2.0, height_wave: float = 0.1) -> np.ndarray:
    """Camera-to-world poses along an arc, each looking outwards at the walls.

    The camera moves on a horizontal arc of ``radius`` around ``center`` and
    looks radially outwards (towards the walls and boxes), a smooth sequence
    like a hand-held scan: consecutive frames overlap and baselines grow along
    the sequence, as tracking and triangulation need.

    Args:
        num_frames (int): number of poses (>= 1).
        center (array-like): (3,) arc centre, world frame, metres.
        radius (float): arc radius, metres.
        arc_deg (tuple): start and end azimuth, degrees (0 = +x, 90 = +y).
        look_distance (float): distance of the look-at point along the view direction.
        height_wave (float): amplitude of a vertical sinusoid, metres.

    Returns:
        np.ndarray: (num_frames, 4, 4) float64 ``T_c2w``.
    """
    if num_frames < 1:
        raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    c = np.asarray(center, np.float64)
    az = np.deg2rad(np.linspace(arc_deg[0], arc_deg[1], num_frames))
    poses = []
    for i, a in enumerate(az):
        radial = np.array([np.cos(a), np.sin(a), 0.0])
        wave = height_wave * np.sin(2 * np.pi * i / max(num_frames, 2))
        eye = c + radius * radial + np.array([0, 0, wave])
        # look outwards and a little inwards-tangential so that views overlap more
        target = c + (radius + look_distance) * radial
        target[2] = c[2] - 0.2
        poses.append(look_at_pose(eye, target))
    return np.stack(poses)


def make_strafe_trajectory(num_frames: int, start=(-0.7, -0.3, 1.3), end=(0.7, -0.3, 1.3),
                           azimuth_deg: float = 90.0, yaw_wave_deg: float = 6.0,
                           pitch_deg: float = -8.0) -> np.ndarray:
    """Camera-to-world poses moving sideways along a line, looking across it.

    A translation-dominant scan (like walking past a wall): features stay in
    view for many frames and baselines grow steadily, which gives long tracks
    and well-conditioned triangulation.

    Args:
        num_frames (int): number of poses (>= 1).
        start, end (array-like): (3,) first and last camera centres, metres.
        azimuth_deg (float): viewing direction in the xy-plane (0 = +x, 90 = +y).
        yaw_wave_deg (float): amplitude of a sinusoidal yaw around the azimuth.
        pitch_deg (float): constant pitch (negative looks down).

    Returns:
        np.ndarray: (num_frames, 4, 4) float64 ``T_c2w``.
    """
    if num_frames < 1:
        raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    a, b = np.asarray(start, np.float64), np.asarray(end, np.float64)
    poses = []
    for i, s in enumerate(np.linspace(0.0, 1.0, num_frames)):
        eye = a + s * (b - a)
        yaw = np.deg2rad(azimuth_deg + yaw_wave_deg * np.sin(2 * np.pi * s))
        pitch = np.deg2rad(pitch_deg)
        direction = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch),
                              np.sin(pitch)])
        poses.append(look_at_pose(eye, eye + direction))
    return np.stack(poses)


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------
class SyntheticScene:
    """Ray-casts textured quads at pinhole camera poses (colour + exact depth).

    Args:
        quads (list[TexturedQuad]): the geometry.
        K (np.ndarray): (3, 3) intrinsics of the rendered images (pixel centres at integers).
        image_size (tuple): (width, height) in pixels.
        supersample (int): s x s rays per pixel averaged into one (anti-aliasing).
        background (float): grey level (0-255) where no quad is hit; depth there is 0.
    """

    def __init__(self, quads: List[TexturedQuad], K: np.ndarray, image_size: Tuple[int, int],
                 supersample: int = 2, background: float = 0.0):
        if len(quads) == 0:
            raise ValueError('quads must not be empty')
        K = np.asarray(K, np.float64)
        if K.shape != (3, 3):
            raise ValueError(f'K must have shape (3, 3), got {K.shape}')
        w, h = int(image_size[0]), int(image_size[1])
        if w <= 0 or h <= 0:
            raise ValueError(f'image_size must be positive (width, height), got {image_size}')
        if supersample < 1:
            raise ValueError(f'supersample must be >= 1, got {supersample}')
        self.quads, self.K, self.width, self.height = quads, K, w, h
        self.supersample, self.background = int(supersample), float(background)
        self._origins = torch.tensor(np.stack([q.origin for q in quads]), dtype=torch.float64)
        self._eu = torch.tensor(np.stack([q.edge_u for q in quads]), dtype=torch.float64)
        self._ev = torch.tensor(np.stack([q.edge_v for q in quads]), dtype=torch.float64)
        self._tex = [torch.from_numpy(np.ascontiguousarray(q.texture)).permute(2, 0, 1)
                     .float()[None] for q in quads]

    def _cast(self, o: torch.Tensor,
              d: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Nearest hit per ray: ``(t (R,), quad index (R,) or -1, (a, b) (R, 2))``.

        ``t`` is in units of ``|d|`` (the z-depth when ``d`` has ``z = 1`` in the camera).
        """
        dt = d.dtype
        origins, eu, ev = self._origins.to(dt), self._eu.to(dt), self._ev.to(dt)
        n = torch.linalg.cross(eu, ev, dim=-1)  # (Q, 3)
        rel0 = o.to(dt)[None] - origins  # (Q, 3) ray origin relative to each quad corner
        denom = d @ n.T  # (R, Q)
        denom = torch.where(denom.abs() < 1e-12, torch.full_like(denom, 1e-12), denom)
        t = (-(rel0 * n).sum(-1))[None] / denom
        a = ((rel0 * eu).sum(-1)[None] + t * (d @ eu.T)) / (eu * eu).sum(-1)[None]
        b = ((rel0 * ev).sum(-1)[None] + t * (d @ ev.T)) / (ev * ev).sum(-1)[None]
        ok = (t > 1e-6) & (a >= 0) & (a <= 1) & (b >= 0) & (b <= 1)
        t = t.masked_fill(~ok, float('inf'))
        t_best, idx = t.min(dim=1)
        hit = torch.isfinite(t_best)
        idx = idx.masked_fill(~hit, -1)
        gi = idx.clamp_min(0)[:, None]
        ab = torch.cat([a.gather(1, gi), b.gather(1, gi)], -1)
        return t_best.masked_fill(~hit, 0.0), idx, ab

    def raycast(self, origin, directions) -> np.ndarray:
        """Distance to the first surface along rays (exact ground truth for tests).

        Args:
            origin (array-like): (3,) common ray origin, world frame.
            directions (array-like): (N, 3) ray directions (any length).

        Returns:
            np.ndarray: (N,) float64 ``t`` with the hit at ``origin + t * directions``
            (in units of each direction's length); ``inf`` where nothing is hit.
        """
        o = torch.as_tensor(np.asarray(origin, np.float64))
        d = torch.as_tensor(np.asarray(directions, np.float64)).reshape(-1, 3)
        t, idx, _ = self._cast(o, d)
        t = t.numpy().copy()
        t[idx.numpy() < 0] = np.inf
        return t

    def render(self, T_c2w: np.ndarray) -> Dict[str, np.ndarray]:
        """Render one view.

        Args:
            T_c2w (np.ndarray): (4, 4) camera-to-world pose.

        Returns:
            dict: ``image`` (H, W, 3) uint8 RGB and ``depth`` (H, W) float32
            z-depth in metres (exact at the pixel centre; 0 where nothing is hit).
        """
        T = np.asarray(T_c2w, np.float64)
        if T.shape != (4, 4):
            raise ValueError(f'T_c2w must have shape (4, 4), got {T.shape}')
        s, w, h = self.supersample, self.width, self.height
        offs = (torch.arange(s, dtype=torch.float64) + 0.5) / s - 0.5
        us = (torch.arange(w, dtype=torch.float64)[:, None] + offs[None]).reshape(-1)  # (w*s,)
        vs = (torch.arange(h, dtype=torch.float64)[:, None] + offs[None]).reshape(-1)  # (h*s,)
        # centre ray of each pixel gives the depth; the s*s sub-rays give the colour
        grids = [(vs, us),
                 (torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64))]
        Kinv = torch.from_numpy(np.linalg.inv(self.K))
        R = torch.from_numpy(T[:3, :3])
        o = torch.from_numpy(T[:3, 3])
        outputs = []
        for vv, uu in grids:
            gv, gu = torch.meshgrid(vv, uu, indexing='ij')
            pix = torch.stack([gu, gv, torch.ones_like(gu)], -1).reshape(-1, 3)
            d_cam = pix @ Kinv.T  # z = 1: t is the z-depth
            d = d_cam @ R.T
            if vv is vs:  # colour rays: float32 is plenty
                d = d.float()
            outputs.append((gv.shape, self._cast(o, d)))
        (shape_c, (_, idx_c, ab_c)), (shape_d, (t_d, _, _)) = outputs
        colour = torch.full((idx_c.shape[0], 3), self.background, dtype=torch.float32)
        for q, tex in enumerate(self._tex):
            sel = idx_c == q
            if not sel.any():
                continue
            grid = (ab_c[sel] * 2 - 1).float()[None, :, None, :]  # (1, N, 1, 2) x=a, y=b
            vals = F.grid_sample(tex, grid, mode='bilinear', padding_mode='border',
                                 align_corners=True)
            colour[sel] = vals[0, :, :, 0].T
        colour = colour.reshape(h, s, w, s, 3).mean(dim=(1, 3))
        image = colour.round().clamp(0, 255).to(torch.uint8).numpy()
        depth = t_d.reshape(shape_d).float().numpy()
        return dict(image=image, depth=depth)


def synthetic_relocalization_scene(num_train: int = 12,
                                   num_test: int = 4,
                                   image_size: Tuple[int, int] = (320, 240),
                                   focal: Optional[float] = None,
                                   trajectory: str = 'strafe',
                                   test_offset: Tuple[float, float] = (0.05, 2.0),
                                   seed: int = 0,
                                   supersample: int = 2,
                                   room_size: Tuple[float, float, float] = (5.0, 5.0, 2.6),
                                   num_boxes: int = 3,
                                   texture_root: Optional[Union[str, Path]] = None) -> Dict:
    """A posed RGB-D training sequence and query views of one textured room.

    Training frames follow :func:`make_strafe_trajectory` (default) or
    :func:`make_orbit_trajectory`; each query is a pose half-way between two
    training frames, moved by ``test_offset[0]`` metres and rotated by
    ``test_offset[1]`` degrees (so it is never a training view).

    Args:
        num_train (int): training frames (>= 2).
        num_test (int): query frames (>= 0).
        image_size (tuple): (width, height) pixels; any size works.
        focal (float, optional): focal length in pixels; default ``width`` (53 deg field of view).
        trajectory (str): ``'strafe'`` (sideways scan of one side of the room)
            or ``'orbit'`` (arc looking outwards).
        test_offset (tuple): (metres, degrees) of the query perturbation.
        seed (int): everything random (textures, boxes, query perturbations).
        supersample (int): anti-aliasing factor of the renderer.
        room_size (tuple): room extent (x, y, z), metres.
        num_boxes (int): boxes in the room.
        texture_root (str | Path, optional): sample-data folder whose photos
            texture the room (see :func:`load_texture_photos`); None: procedural
            textures.

    Returns:
        dict: ``train`` and ``test`` lists of frames, each a dict with ``image``
        (H, W, 3) uint8, ``depth`` (H, W) float32 metres, ``K`` (3, 3) float64,
        ``T_c2w`` (4, 4) float64 and ``name`` (str); plus ``K`` and ``scene``
        (the :class:`SyntheticScene`, to render more views).
    """
    if num_train < 2:
        raise ValueError(f'num_train must be >= 2, got {num_train}')
    if num_test < 0:
        raise ValueError(f'num_test must be >= 0, got {num_test}')
    if trajectory not in ('strafe', 'orbit'):
        raise ValueError(f"trajectory must be 'strafe' or 'orbit', got {trajectory!r}")
    w, h = int(image_size[0]), int(image_size[1])
    f = float(focal) if focal is not None else float(w)
    K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]], np.float64)
    sector = (45.0, 135.0) if trajectory == 'strafe' else (-150.0, -30.0)
    quads = make_textured_room(size=room_size, num_boxes=num_boxes, seed=seed,
                               texels_per_metre=f / 1.5, box_sector_deg=sector,
                               texture_root=texture_root)
    scene = SyntheticScene(quads, K, (w, h), supersample=supersample)
    make = make_strafe_trajectory if trajectory == 'strafe' else make_orbit_trajectory
    train_poses = make(num_train)
    dense = make(2 * num_train - 1)  # midpoints between training poses at odd indices
    rng = np.random.default_rng(seed + 1)
    test_poses = []
    for i in range(num_test):
        j = int(round((i + 0.5) * (num_train - 1) / max(num_test, 1)))
        j = min(max(j, 0), num_train - 2)
        test_poses.append(perturb_pose(dense[2 * j + 1], test_offset[0], test_offset[1], rng))

    def frames(poses, prefix):
        out = []
        for i, T in enumerate(poses):
            r = scene.render(T)
            out.append(dict(image=r['image'], depth=r['depth'], K=K.copy(), T_c2w=np.array(T),
                            name=f'{prefix}-{i:04d}'))
        return out

    return dict(train=frames(train_poses, 'train'), test=frames(test_poses, 'test'), K=K,
                scene=scene)
