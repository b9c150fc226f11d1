"""Posed image sequences for relocalization: 7-Scenes, Cambridge, COLMAP, synthetic.

Every loader returns *frame records* (dicts) with

* ``img_path`` (str) -- or ``image`` (H, W, 3) uint8 RGB for in-memory frames,
* ``K`` (3, 3) float64 colour intrinsics (pixel centres at integers, after resizing),
* ``T_c2w`` (4, 4) float64 camera-to-world pose, metres (rotation re-orthonormalised),
* optional ``depth_path`` / ``depth`` and ``K_depth``, and ``name``.

Pose conventions of the sources (converted to ``T_c2w`` here):

* **7-Scenes** ``frame-XXXXXX.pose.txt``: 4x4 camera-to-world. Colour intrinsics
  ``f = 525, c = (320, 240)``; depth (``uint16`` mm, 0 / 65535 invalid) has
  ``f = 585`` and is *not* registered to colour.
* **Cambridge Landmarks** ``dataset_{train,test}.txt``: three header lines, then
  ``path X Y Z W P Q R``: ``XYZ`` is the camera **centre** in the world and
  ``WPQR`` the quaternion (w, x, y, z) of the **world-to-camera** rotation
  (the VisualSFM / NVM convention), so ``T_w2c = [R | -R C]``. The focal length
  comes from ``reconstruction.nvm`` (mean over cameras) or the ``focal``
  argument; principal point at the image centre.
* **COLMAP** text models: ``images.txt`` has world-to-camera ``QW QX QY QZ TX TY TZ``.

:class:`RelocalizationDataset` (registered) wraps them for ``tools/test.py``
and ``tools/favor_build_map.py``.
"""
import functools
import io
import os
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ..registry import DATASETS
from ..structures.cameras import is_rigid_transform, quaternion_to_rotation, scale_intrinsics
from .formats.dota import read_text

__all__ = [
    'SEVEN_SCENES_K', 'SEVEN_SCENES_K_DEPTH', 'load_7scenes', 'read_pose_txt', 'load_cambridge',
    'read_colmap_text_model', 'load_colmap', 'RelocalizationDataset'
]

PathLike = Union[str, os.PathLike]

#: 7-Scenes colour and depth intrinsics (640 x 480)
SEVEN_SCENES_K = np.array([[525.0, 0, 320.0], [0, 525.0, 240.0], [0, 0, 1]])
SEVEN_SCENES_K_DEPTH = np.array([[585.0, 0, 320.0], [0, 585.0, 240.0], [0, 0, 1]])


def _rigid(T: np.ndarray, source: str, atol: float = 1e-3) -> np.ndarray:
    """Check a camera pose is rigid (within ``atol``) and re-orthonormalise it."""
    T = np.asarray(T, np.float64)
    if T.shape != (4, 4) or not np.isfinite(T).all():
        raise ValueError(f'{source}: pose must be a finite 4x4 matrix, got shape {T.shape}')
    if not is_rigid_transform(T, atol=atol):
        raise ValueError(f'{source}: pose is not a rigid transform (R^T R = I, det R = 1, '
                         f'last row 0 0 0 1 within {atol})')
    u, _, vt = np.linalg.svd(T[:3, :3])
    out = T.copy()
    out[:3, :3] = u @ vt
    return out


def read_pose_txt(path: PathLike) -> np.ndarray:
    """Read a 4 x 4 pose text file (7-Scenes ``frame-*.pose.txt``: 4 rows of 4 numbers).

    Args:
        path (str | Path): the file.

    Returns:
        np.ndarray: ``(4, 4)`` float64 as written (may hold inf: 7-Scenes marks
        lost tracking that way; callers decide).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: naming the file, if it is not UTF-8 text or not 4 rows of 4
            numbers.
    """
    text = read_text(path, 'pose file')
    if not text.strip():
        raise ValueError(f'{path}: pose file is empty: expected 4 rows of 4 numbers, got shape '
                         '(0, 0)')
    try:
        T = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise ValueError(f'{path}: pose file is not 4 rows of 4 numbers: {err}') from None
    if T.shape != (4, 4):
        raise ValueError(f'{path}: pose file must hold 4 rows of 4 numbers, got shape '
                         f'{T.shape}')
    return T


def _w2c_from_qt(q, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = quaternion_to_rotation(np.asarray(q, np.float64))
    T[:3, 3] = np.asarray(t, np.float64)
    return T


# --------------------------------------------------------------------------
# 7-Scenes
# --------------------------------------------------------------------------
def load_7scenes(root: PathLike, split: str = 'train', sequences: Optional[Sequence[int]] = None,
                 load_depth: bool = False, frame_step: int = 1,
                 frame_ids: Optional[Sequence[int]] = None) -> List[Dict]:
    """Frame records of one 7-Scenes scene folder.

    Args:
        root (str | Path): the scene folder (``.../stairs``) with ``seq-XX/`` and
            ``TrainSplit.txt`` / ``TestSplit.txt`` (lines ``sequenceN``).
        split (str): ``'train'``, ``'test'`` or ``'all'``.
        sequences (Sequence[int], optional): sequence numbers overriding the split files.
        load_depth (bool): add ``depth_path`` and ``K_depth``.
        frame_step (int): keep every n-th frame of each sequence.
        frame_ids (Sequence[int], optional): keep only these frame numbers
            (``frame-000123`` is 123) of each sequence, e.g. to map with some
            frames of a sequence and query others.

    Returns:
        list[dict]: frame records sorted by sequence and frame.

    Raises:
        FileNotFoundError: missing folder, split file or sequence.
        ValueError: a frame without pose, a non-rigid pose, a bad split.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f'7-Scenes scene folder {root} does not exist')
    if split not in ('train', 'test', 'all'):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if frame_step < 1:
        raise ValueError(f'frame_step must be >= 1, got {frame_step}')
    if sequences is None:
        if split == 'all':
            seq_dirs = sorted(p for p in root.glob('seq-*') if p.is_dir())
        else:
            split_file = root / ('TrainSplit.txt' if split == 'train' else 'TestSplit.txt')
            if not split_file.is_file():
                raise FileNotFoundError(f'{split_file} is missing (or pass sequences=[...])')
            nums = [int(''.join(ch for ch in line if ch.isdigit()))
                    for line in split_file.read_text().split() if line.strip()]
            seq_dirs = [root / f'seq-{n:02d}' for n in nums]
    else:
        seq_dirs = [root / f'seq-{int(n):02d}' for n in sequences]
    records = []
    for sd in seq_dirs:
        if not sd.is_dir():
            raise FileNotFoundError(f'7-Scenes sequence folder {sd} does not exist')
        colour = sorted(list(sd.glob('frame-*.color.png')) + list(sd.glob('frame-*.color.jpg')))
        if frame_ids is not None:
            wanted = {int(i) for i in frame_ids}
            colour = [cp for cp in colour
                      if int(''.join(ch for ch in cp.name.split('.')[0] if ch.isdigit())) in wanted]
        for cp in colour[::frame_step]:
            stem = cp.name.split('.')[0]
            pose_path = sd / f'{stem}.pose.txt'
            name = f'{sd.name}/{stem}'
            if not pose_path.is_file():
                raise ValueError(f'7-Scenes frame {name} has no pose file {pose_path.name}')
            T = read_pose_txt(pose_path)
            if not np.isfinite(T).all():  # 7-Scenes marks lost tracking with inf poses
                raise ValueError(f'7-Scenes frame {name} has an invalid (non-finite) pose')
            rec = dict(img_path=str(cp), K=SEVEN_SCENES_K.copy(), T_c2w=_rigid(T, name), name=name)
            if load_depth:
                dp = sd / f'{stem}.depth.png'
                if dp.is_file():
                    rec.update(depth_path=str(dp), K_depth=SEVEN_SCENES_K_DEPTH.copy(),
                               depth_scale=1e-3)
            records.append(rec)
    return records


# --------------------------------------------------------------------------
# Cambridge Landmarks
# --------------------------------------------------------------------------
def _nvm_focal(path: Path) -> float:
    """Mean focal length (pixels of the original images) over an NVM model's cameras."""
    with open(path) as f:
        lines = [ln for ln in (x.strip() for x in f) if ln]
    i = 0
    while i < len(lines) and not lines[i].split()[0].isdigit():
        i += 1  # skip the 'NVM_V3' header
    n = int(lines[i].split()[0])
    focals = [float(lines[i + 1 + k].split()[1]) for k in range(n)]
    if not focals:
        raise ValueError(f'{path} lists no cameras')
    return float(np.mean(focals))


def load_cambridge(root: PathLike, split: str = 'train', focal: Optional[float] = None,
                   image_size: Sequence[int] = (1920, 1080)) -> List[Dict]:
    """Frame records of one Cambridge Landmarks scene folder.

    Args:
        root (str | Path): scene folder with ``dataset_train.txt`` / ``dataset_test.txt``.
        split (str): ``'train'`` or ``'test'``.
        focal (float, optional): focal length in pixels of the original images;
            default: the mean over ``reconstruction.nvm``'s cameras.
        image_size (tuple): ``(W, H)`` of the original images (principal point
            at their centre).

    Returns:
        list[dict]: frame records (``T_c2w`` from the world-to-camera quaternion
        and the camera centre, see the module docstring).

    Raises:
        FileNotFoundError: missing list file, or no focal length available.
        ValueError: a malformed line (its number is given).
    """
    root = Path(root)
    if split not in ('train', 'test'):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    list_file = root / f'dataset_{split}.txt'
    if not list_file.is_file():
        raise FileNotFoundError(f'Cambridge list file {list_file} does not exist')
    if focal is None:
        nvm = root / 'reconstruction.nvm'
        if not nvm.is_file():
            raise FileNotFoundError(f'{nvm} is missing: pass focal=<pixels> explicitly')
        focal = _nvm_focal(nvm)
    w, h = image_size
    K = np.array([[focal, 0, (w - 1) / 2], [0, focal, (h - 1) / 2], [0, 0, 1]], np.float64)
    records = []
    with open(list_file) as f:
        lines = f.read().splitlines()
    for no, line in enumerate(lines[3:], start=4):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 8:
            raise ValueError(f'{list_file}:{no}: expected "path X Y Z W P Q R", got {line!r}')
        try:
            centre = np.array(parts[1:4], np.float64)
            q = np.array(parts[4:8], np.float64)
        except ValueError:
            raise ValueError(f'{list_file}:{no}: non-numeric pose in {line!r}') from None
        R_w2c = quaternion_to_rotation(q)
        T_w2c = np.eye(4)
        T_w2c[:3, :3] = R_w2c
        T_w2c[:3, 3] = -R_w2c @ centre
        records.append(dict(img_path=str(root / parts[0]), K=K.copy(),
                            T_c2w=_rigid(np.linalg.inv(T_w2c), f'{list_file}:{no}'), name=parts[0]))
    return records


# --------------------------------------------------------------------------
# COLMAP
# --------------------------------------------------------------------------
def _camera_K(model: str, params: List[float]) -> np.ndarray:
    if model in ('SIMPLE_PINHOLE', 'SIMPLE_RADIAL', 'RADIAL', 'SIMPLE_RADIAL_FISHEYE',
                 'RADIAL_FISHEYE'):
        f, cx, cy = params[:3]
        fx = fy = f
    elif model in ('PINHOLE', 'OPENCV', 'OPENCV_FISHEYE', 'FULL_OPENCV', 'THIN_PRISM_FISHEYE'):
        fx, fy, cx, cy = params[:4]
    else:
        raise ValueError(f'unsupported COLMAP camera model {model!r}')
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float64)


def read_colmap_text_model(folder: PathLike) -> Dict:
    """Parse ``cameras.txt``, ``images.txt`` and ``points3D.txt``.

    Args:
        folder (str | Path): folder of the text model.

    Returns:
        dict:
            * ``cameras``: ``{id: dict(model, width, height, params, K (3, 3))}``;
              COLMAP's pixel convention (centre of the top-left pixel at 0.5)
              is converted to ours (at 0) by ``c -= 0.5``.
            * ``images``: ``{id: dict(name, camera_id, qvec (4,), tvec (3,),
              T_w2c (4, 4), T_c2w (4, 4), xys (N, 2), point3D_ids (N,))}``
              (``xys`` also shifted by -0.5).
            * ``points3D``: ``{id: dict(xyz (3,), rgb (3,), error, track (M, 2))}``.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a malformed line (file and line number given), a file that
            is not UTF-8 text, non-finite values, or an image whose camera id
            ``cameras.txt`` does not define.
    """
    folder = Path(folder)
    for fn in ('cameras.txt', 'images.txt', 'points3D.txt'):
        if not (folder / fn).is_file():
            raise FileNotFoundError(f'COLMAP text model file {folder / fn} does not exist')

    texts = {fn: read_text(folder / fn, 'COLMAP text model file').splitlines()
             for fn in ('cameras.txt', 'images.txt', 'points3D.txt')}

    def data_lines(fn):
        for no, line in enumerate(texts[fn], start=1):
            s = line.strip()
            if s and not s.startswith('#'):
                yield no, s

    cameras = {}
    for no, s in data_lines('cameras.txt'):
        p = s.split()
        try:
            cid, model, w, h = int(p[0]), p[1], int(p[2]), int(p[3])
            params = [float(v) for v in p[4:]]
            K = _camera_K(model, params)
        except (ValueError, IndexError) as exc:
            raise ValueError(f'{folder / "cameras.txt"}:{no}: {exc}') from None
        if not (np.isfinite(params).all() and K[0, 0] > 0 and K[1, 1] > 0 and w > 0 and h > 0):
            raise ValueError(f'{folder / "cameras.txt"}:{no}: camera {cid} needs finite '
                             f'parameters, positive focal lengths and size, got {s!r}')
        K[0, 2] -= 0.5
        K[1, 2] -= 0.5
        cameras[cid] = dict(model=model, width=w, height=h, params=params, K=K)
    images = {}
    lines = list(data_lines('images.txt'))
    all_lines = texts['images.txt']
    k = 0
    while k < len(lines):
        no, s = lines[k]
        p = s.split()
        try:
            iid = int(p[0])
            q = np.array(p[1:5], np.float64)
            t = np.array(p[5:8], np.float64)
            cid, name = int(p[8]), p[9]
            if q.shape != (4,) or t.shape != (3,):
                raise IndexError
        except (ValueError, IndexError):
            raise ValueError(f'{folder / "images.txt"}:{no}: expected "IMAGE_ID QW QX QY QZ TX TY '
                             f'TZ CAMERA_ID NAME", got {s!r}') from None
        if cid not in cameras:
            raise ValueError(f'{folder / "images.txt"}:{no}: image {name!r} uses camera id {cid}, '
                             f'which cameras.txt does not define (ids: {sorted(cameras)})')
        if not (np.isfinite(q).all() and np.isfinite(t).all()) or not np.linalg.norm(q) > 0:
            raise ValueError(f'{folder / "images.txt"}:{no}: image {name!r} needs a finite, '
                             f'non-zero quaternion and a finite translation, got {s!r}')
        # the 2-D points are on the next physical line (it may be empty)
        pts_line = all_lines[no] if no < len(all_lines) else ''
        vals = pts_line.split()
        if k + 1 < len(lines) and lines[k + 1][0] == no + 1:
            k += 2
        else:
            k += 1
        if len(vals) % 3:
            raise ValueError(f'{folder / "images.txt"}:{no + 1}: POINTS2D must be triples')
        try:
            arr = np.array(vals, np.float64).reshape(-1, 3) if vals else np.zeros((0, 3))
        except ValueError:
            raise ValueError(f'{folder / "images.txt"}:{no + 1}: POINTS2D must be numbers '
                             '"X Y POINT3D_ID ..."') from None
        if not (np.isfinite(arr).all() and (np.abs(arr[:, 2]) < 2 ** 62).all()
                and (arr[:, 2] == np.round(arr[:, 2])).all()):
            raise ValueError(f'{folder / "images.txt"}:{no + 1}: POINTS2D must be finite with '
                             'integer POINT3D_IDs')
        ids = arr[:, 2].astype(np.int64)
        T_w2c = _w2c_from_qt(q, t)
        images[iid] = dict(name=name, camera_id=cid, qvec=q, tvec=t, T_w2c=T_w2c,
                           T_c2w=np.linalg.inv(T_w2c), xys=arr[:, :2] - 0.5,
                           point3D_ids=ids)
    points = {}
    for no, s in data_lines('points3D.txt'):
        p = s.split()
        try:
            pid = int(p[0])
            xyz = np.array(p[1:4], np.float64)
            rgb = np.array(p[4:7], np.int64)
            err = float(p[7])
            track = np.array(p[8:], np.int64).reshape(-1, 2)
            if xyz.shape != (3,) or rgb.shape != (3,) or not np.isfinite(xyz).all():
                raise ValueError
        except (ValueError, IndexError, OverflowError):
            raise ValueError(f'{folder / "points3D.txt"}:{no}: malformed point line') from None
        points[pid] = dict(xyz=xyz, rgb=rgb, error=err, track=track)
    return dict(cameras=cameras, images=images, points3D=points)


def load_colmap(root: PathLike, model_dir: str = 'reconstruction', image_dir: str = 'images',
                split: str = 'all', test_images: Sequence[str] = ()) -> List[Dict]:
    """Frame records of a COLMAP text model (one per registered image).

    Args:
        root (str | Path): folder holding ``model_dir`` and ``image_dir``.
        model_dir (str): sub-folder of the text model.
        image_dir (str): sub-folder of the images.
        split (str): ``'all'``, ``'train'`` (all but ``test_images``) or ``'test'``.
        test_images (Sequence[str]): image names of the test split.

    Returns:
        list[dict]: frame records sorted by image name.
    """
    root = Path(root)
    if split not in ('all', 'train', 'test'):
        raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
    model = read_colmap_text_model(root / model_dir)
    test = set(test_images)
    unknown = test - {im['name'] for im in model['images'].values()}
    if unknown:
        raise ValueError(f'test_images not in the model: {sorted(unknown)}')
    records = []
    for im in sorted(model['images'].values(), key=lambda x: x['name']):
        if split == 'train' and im['name'] in test or split == 'test' and im['name'] not in test:
            continue
        cam = model['cameras'][im['camera_id']]
        records.append(dict(img_path=str(root / image_dir / im['name']), K=cam['K'].copy(),
                            T_c2w=_rigid(im['T_c2w'], f'COLMAP image {im["name"]}'),
                            name=im['name'], image_size=(cam['width'], cam['height'])))
    return records


# --------------------------------------------------------------------------
# reading and resizing
# --------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _synthetic_cached(items: tuple) -> Dict:
    from .synthetic.scene import synthetic_relocalization_scene
    return synthetic_relocalization_scene(**dict(items))


def _freeze(obj):
    if isinstance(obj, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in obj.items()))
    if isinstance(obj, (list, tuple)):
        return tuple(_freeze(v) for v in obj)
    return obj


@DATASETS.register_module()
class RelocalizationDataset(Dataset):
    """Posed frames of a relocalization scene (map building and queries).

    Args:
        format (str): ``'7scenes'``, ``'cambridge'``, ``'colmap'`` or ``'synthetic'``.
        data_root (str, optional): the scene folder; ``None`` uses
            ``default_subdir`` under ``$VISION_SPARSE_DATA``.
        split (str): ``'train'`` (mapping) or ``'test'`` (queries); ``'all'`` for
            7-Scenes / COLMAP.
        load_depth (bool): load depth maps (7-Scenes, synthetic) in metres.
        resize_width (int, optional): resize images to this width (intrinsics scaled).
        frame_step (int): keep every n-th frame (7-Scenes) / record (others).
        max_frames (int, optional): keep at most this many frames (evenly spaced).
        loader_args (dict, optional): extra arguments of the format's loader
            (``sequences``, ``focal``, ``image_size``, ``model_dir``, ``test_images`` ...).
        synthetic (dict, optional): arguments of
            :func:`~vision_sparse.datasets.synthetic.scene.synthetic_relocalization_scene`.
        default_subdir (str, optional): path below ``$VISION_SPARSE_DATA`` used
            when ``data_root`` is None.
        lazy_init (bool): do not read the folder until first use (mmengine
            style; configs use it so that building a config touches no disk).

    Items (``__getitem__``) are ``dict(inputs=(3, H, W) uint8 tensor,
    data_samples=dict(T_c2w (4, 4), K (3, 3), name))``;
    :meth:`frames` yields mapping frames (``image`` (H, W, 3) uint8 RGB, ``K``,
    ``T_c2w``, optional ``depth`` (H, W) metres and ``K_depth``, ``name``).
    """

    FORMATS = ('7scenes', 'cambridge', 'colmap', 'synthetic')

    def __init__(self, format: str = '7scenes', data_root: Optional[str] = None,
                 split: str = 'train', load_depth: bool = False,
                 resize_width: Optional[int] = None, frame_step: int = 1,
                 max_frames: Optional[int] = None, loader_args: Optional[Dict] = None,
                 synthetic: Optional[Dict] = None, default_subdir: Optional[str] = None,
                 lazy_init: bool = False):
        if format not in self.FORMATS:
            raise ValueError(f'format must be one of {self.FORMATS}, got {format!r}')
        if split not in ('train', 'test', 'all'):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        if resize_width is not None and int(resize_width) < 8:
            raise ValueError(f'resize_width must be >= 8 pixels, got {resize_width}')
        if frame_step < 1:
            raise ValueError(f'frame_step must be >= 1, got {frame_step}')
        self.format, self.data_root, self.split = format, data_root, split
        self.load_depth, self.resize_width = bool(load_depth), resize_width
        self.frame_step, self.max_frames = int(frame_step), max_frames
        self.loader_args = dict(loader_args or {})
        self.synthetic = dict(synthetic or {})
        self.default_subdir = default_subdir
        self.records: Optional[List[Dict]] = None
        if not lazy_init:
            self.full_init()

    # ------------------------------------------------------------------ loading
    def _root(self) -> Path:
        if self.data_root is not None:
            return Path(self.data_root)
        base = os.environ.get('VISION_SPARSE_DATA')  # the sample-data folder, if set
        if not base or self.default_subdir is None:
            raise FileNotFoundError(
                f'{self.format} dataset: data_root is not set; pass data_root=<scene folder> '
                '(or default_subdir= and the environment variable VISION_SPARSE_DATA=<sample '
                'data folder>)')
        return Path(base) / self.default_subdir

    def full_init(self) -> None:
        """Read the file lists and poses (idempotent)."""
        if self.records is not None:
            return
        if self.format == 'synthetic':
            scene = _synthetic_cached(_freeze(self.synthetic))
            frames = scene['train'] + scene['test'] if self.split == 'all' else scene[
                'train' if self.split == 'train' else 'test']
            recs = [dict(image=f['image'], K=f['K'], T_c2w=f['T_c2w'], name=f['name'],
                         depth=f['depth'], K_depth=f['K']) for f in frames]
            recs = recs[::self.frame_step]
        else:
            root = self._root()
            if self.format == '7scenes':
                recs = load_7scenes(root, self.split, load_depth=self.load_depth,
                                    frame_step=self.frame_step, **self.loader_args)
            elif self.format == 'cambridge':
                recs = load_cambridge(root, self.split, **self.loader_args)[::self.frame_step]
            else:
                recs = load_colmap(root, split=self.split, **self.loader_args)[::self.frame_step]
        if self.max_frames is not None and len(recs) > self.max_frames:
            keep = np.linspace(0, len(recs) - 1, int(self.max_frames)).round().astype(int)
            recs = [recs[i] for i in keep]
        self.records = recs

    def __len__(self) -> int:
        self.full_init()
        return len(self.records)

    def load_frame(self, idx: int) -> Dict:
        """One mapping frame (see the class docstring), resized if configured."""
        import cv2
        self.full_init()
        rec = self.records[idx]
        if 'image' in rec:
            image = rec['image']
        else:
            image = cv2.imread(rec['img_path'], cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(f'cannot read image {rec["img_path"]}')
            image = np.ascontiguousarray(image[:, :, ::-1])
        K = np.asarray(rec['K'], np.float64)
        frame = dict(image=image, K=K, T_c2w=np.asarray(rec['T_c2w'], np.float64), name=rec['name'])
        if self.load_depth:
            depth = rec.get('depth')
            if depth is None and rec.get('depth_path'):
                raw = cv2.imread(rec['depth_path'], cv2.IMREAD_UNCHANGED)
                if raw is None:
                    raise FileNotFoundError(f'cannot read depth {rec["depth_path"]}')
                depth = raw.astype(np.float32) * float(rec.get('depth_scale', 1.0))
                depth[(raw == 0) | (raw == 65535)] = 0
            if depth is not None:
                frame['depth'] = np.asarray(depth, np.float32)
                frame['K_depth'] = np.asarray(rec.get('K_depth', K), np.float64)
        if self.resize_width is not None and image.shape[1] != int(self.resize_width):
            h, w = image.shape[:2]
            nw = int(self.resize_width)
            nh = int(round(h * nw / w))
            sx, sy = nw / w, nh / h
            frame['image'] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
            frame['K'] = scale_intrinsics(K, sx, sy)
            if 'depth' in frame:
                frame['depth'] = cv2.resize(frame['depth'], (nw, nh),
                                            interpolation=cv2.INTER_NEAREST)
                frame['K_depth'] = scale_intrinsics(frame['K_depth'], sx, sy)
        return frame

    def frames(self) -> Iterator[Dict]:
        """Iterate over mapping frames in order."""
        for i in range(len(self)):
            yield self.load_frame(i)

    def __getitem__(self, idx: int) -> Dict:
        frame = self.load_frame(idx)
        img = torch.from_numpy(np.ascontiguousarray(frame['image'])).permute(2, 0, 1).contiguous()
        sample = dict(T_c2w=frame['T_c2w'], K=frame['K'], name=frame['name'])
        return dict(inputs=img, data_samples=sample)
