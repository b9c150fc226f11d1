"""Image pairs made by warping one image with a known smooth flow (dense ground truth).

The target frame of a pair is the source frame resampled with ``grid_sample``
through a random smooth warp: an affine map (rotation, isotropic scale, shift)
plus a sinusoidal wobble. Because the warp is analytic, the source position of
every target pixel is known exactly; this is the training and test data of
the FramePainter matching attention (``configs/framepainter``).

Pixel convention: ``(x, y)`` with the centre of the top-left pixel at
``(0, 0)``; normalised ``grid_sample`` coordinates with
``align_corners=False`` (``-1`` / ``+1`` at the outer pixel edges), so a
normalised ``u`` is the pixel ``x = ((u + 1) W - 1) / 2``.
"""
import math
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from vision_sparse.registry import DATASETS

__all__ = [
    'SyntheticWarpPairsDataset', 'random_warp_grid', 'warp_grid', 'procedural_texture',
    'grid_to_pixels'
]

#: file suffixes read from ``image_dir``
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm')


def _check_size(size: Sequence[int], name: str) -> Tuple[int, int]:
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or any(not isinstance(s, (int, np.integer)) or s < 1 for s in size)):
        raise ValueError(f'{name} must be (H, W) positive ints, got {size!r}')
    return int(size[0]), int(size[1])


def random_warp_grid(size: Sequence[int], seed: Union[int, torch.Generator],
                     max_rotation: float = 10.0, scale_range: Sequence[float] = (0.9, 1.1),
                     max_shift: float = 0.08, wobble: float = 0.03,
                     wobble_freq: Sequence[float] = (1.0, 2.0)) -> Tensor:
    """A smooth random ``grid_sample`` grid: affine map plus sinusoidal wobble.

    ``target(p) = source(grid(p))`` with ``grid = affine(p) + wobble(p)`` in
    normalised coordinates (``align_corners=False``). The rotation is done in
    pixel-isotropic coordinates (no shear for non-square images).

    Args:
        size (tuple[int, int]): ``(H, W)`` of the target frame, pixels.
        seed (int | torch.Generator): seed (or generator) of the random draws;
            the same seed gives the same warp at every size.
        max_rotation (float): rotation uniform in ``[-max_rotation, max_rotation]``
            degrees.
        scale_range (tuple[float, float]): isotropic scale, uniform in the range.
        max_shift (float): shift per axis uniform in ``[-max_shift, max_shift]``,
            in normalised units (0.08 = 4 % of the image size).
        wobble (float): amplitude of the sinusoidal displacement, normalised
            units.
        wobble_freq (tuple[float, float]): range of its spatial frequencies
            (periods per half image).

    Returns:
        Tensor: ``(1, H, W, 2)`` float32 normalised source positions ``(x, y)``.
    """
    _check_size(size, 'size')
    g = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * torch.rand((), generator=g).item()

    rotation = uniform(-max_rotation, max_rotation)
    scale = uniform(*scale_range)
    shift = (uniform(-max_shift, max_shift), uniform(-max_shift, max_shift))
    freq = (uniform(*wobble_freq), uniform(*wobble_freq))
    phase = (uniform(0, 2 * math.pi), uniform(0, 2 * math.pi))
    return warp_grid(size, rotation, scale, shift, wobble, freq, phase)


def warp_grid(size: Sequence[int], rotation: float = 0.0, scale: float = 1.0,
              shift: Sequence[float] = (0.0, 0.0), wobble: float = 0.0,
              wobble_freq: Sequence[float] = (1.0, 1.0),
              wobble_phase: Sequence[float] = (0.0, 0.0)) -> Tensor:
    """The ``grid_sample`` grid of one given warp: affine map plus sinusoidal wobble.

    The warp :func:`random_warp_grid` draws, with its parameters given: the
    target pixel at normalised ``(x, y)`` shows the source at
    ``scale * R(rotation) (x, y) + shift + wobble * (sin(pi fy y + py), sin(pi fx x + px))``
    (the rotation in pixel-isotropic coordinates, normalised coordinates with
    ``align_corners=False``).

    Args:
        size (tuple[int, int]): ``(H, W)`` of the target frame, pixels.
        rotation (float): degrees (positive turns the sampled source
            counter-clockwise in the image, i.e. the content clockwise).
        scale (float): isotropic scale of the sampled source region (> 1 zooms out).
        shift (tuple[float, float]): ``(x, y)`` shift, normalised units (0.1 = 5 %
            of the width / height).
        wobble (float): amplitude of the sinusoidal displacement, normalised units.
        wobble_freq (tuple[float, float]): ``(fx, fy)`` periods per half image.
        wobble_phase (tuple[float, float]): ``(px, py)`` phases, radians.

    Returns:
        Tensor: ``(1, H, W, 2)`` float32 normalised source positions ``(x, y)``.

    Raises:
        ValueError: a bad ``size`` or a non-positive ``scale``.
    """
    h, w = _check_size(size, 'size')
    if not scale > 0:
        raise ValueError(f'scale must be > 0, got {scale!r}')
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w)
    yy, xx = torch.meshgrid(ys, xs, indexing='ij')
    aspect = w / h  # x spans w / h times more pixels per normalised unit
    th = math.radians(rotation)
    xp, yp = xx * aspect, yy
    xr = scale * (math.cos(th) * xp - math.sin(th) * yp) / aspect
    yr = scale * (math.sin(th) * xp + math.cos(th) * yp)
    grid = torch.stack([xr + shift[0], yr + shift[1]], -1)
    fx, fy = wobble_freq
    px, py = wobble_phase
    displacement = torch.stack([torch.sin(math.pi * fy * yy + py),
                                torch.sin(math.pi * fx * xx + px)], -1)
    return (grid + wobble * displacement)[None]


def procedural_texture(size: Sequence[int], seed: int) -> Tensor:
    """A multi-scale noise texture (no image needed).

    Gaussian noise at 1/4, 1/8, 1/16 and 1/32 of the size, upsampled bicubically,
    weighted ``s ** -0.3`` and normalised to ``[0, 1]``.

    Args:
        size (tuple[int, int]): ``(H, W)`` pixels.
        seed (int): seed of the noise.

    Returns:
        Tensor: ``(1, 3, H, W)`` float32 RGB in ``[0, 1]``.
    """
    h, w = _check_size(size, 'size')
    g = torch.Generator().manual_seed(int(seed))
    tex = torch.zeros(1, 3, h, w)
    for s in (4, 8, 16, 32):
        noise = torch.randn(1, 3, max(h // s, 1), max(w // s, 1), generator=g)
        tex += F.interpolate(noise, size=(h, w), mode='bicubic', align_corners=False) / s**0.3
    return (tex - tex.amin()) / (tex.amax() - tex.amin()).clamp(min=1e-12)


def grid_to_pixels(grid: Tensor) -> Tensor:
    """Normalised ``grid_sample`` positions (``align_corners=False``) -> pixels.

    Args:
        grid (Tensor): ``(..., H, W, 2)`` normalised ``(x, y)``.

    Returns:
        Tensor: ``(..., H, W, 2)`` pixel positions ``(x, y)`` (pixel centres at
        integers) in an image of the grid's own size ``H x W``.
    """
    if grid.dim() < 3 or grid.shape[-1] != 2:
        raise ValueError(f'grid must be (..., H, W, 2), got {tuple(grid.shape)}')
    h, w = grid.shape[-3], grid.shape[-2]
    size = torch.tensor([w, h], dtype=grid.dtype, device=grid.device)
    return ((grid + 1) * size - 1) / 2


@DATASETS.register_module()
class SyntheticWarpPairsDataset(Dataset):
    """Pairs (source, warped target) with the exact source position of every target pixel.

    Pair ``i`` is fully determined by ``(seed, i)``: its source image (a file of
    ``image_dir`` chosen at random, or a procedural texture) and its warp
    (:func:`random_warp_grid`). The target is
    ``grid_sample(source, grid, mode='bilinear', padding_mode='zeros',
    align_corners=False)``: black where the warp leaves the source.

    Args:
        num_pairs (int): dataset length.
        image_size (tuple[int, int]): ``(H, W)`` of both frames, pixels (files
            are resized to it, whole, with area interpolation).
        image_dir (str, optional): folder of source images (``.jpg``, ``.png``,
            ...). None, or a folder that does not exist (with a warning), gives
            procedural textures (:func:`procedural_texture`).
        image_range (tuple[int, int], optional): ``(start, stop)`` slice of the
            sorted file list (e.g. train on the first 24 images, test on the
            others); None = all files.
        seed (int): seed of the pairs.
        max_rotation, scale_range, max_shift, wobble, wobble_freq: the warp's
            ranges (see :func:`random_warp_grid`).

    Each item is a dict:

    * ``inputs`` (Tensor): ``(2, 3, H, W)`` float32 RGB in ``[0, 1]``, frame 0 =
      source, frame 1 = target.
    * ``data_samples`` (dict): ``grid`` ``(H, W, 2)`` float32 normalised source
      position of every target pixel (``grid_sample`` convention); ``flow``
      ``(H, W, 2)`` float32 pixels, source position minus target position
      (target pixel ``(x, y)`` shows source ``(x, y) + flow[y, x]``);
      ``source`` (str): the image file name or ``'texture'``; ``index`` (int).

    Raises:
        ValueError: a bad size, range, count or an empty ``image_range``.
    """

    def __init__(self, num_pairs: int = 100, image_size: Sequence[int] = (192, 256),
                 image_dir: Optional[str] = None, image_range: Optional[Sequence[int]] = None,
                 seed: int = 0, max_rotation: float = 10.0,
                 scale_range: Sequence[float] = (0.9, 1.1), max_shift: float = 0.08,
                 wobble: float = 0.03, wobble_freq: Sequence[float] = (1.0, 2.0)) -> None:
        if not isinstance(num_pairs, (int, np.integer)) or num_pairs < 1:
            raise ValueError(f'num_pairs must be a positive int, got {num_pairs!r}')
        self.image_size = _check_size(tuple(image_size), 'image_size')
        for name, rng in (('scale_range', scale_range), ('wobble_freq', wobble_freq)):
            if len(rng) != 2 or not 0 < rng[0] <= rng[1]:
                raise ValueError(f'{name} must be (low, high) with 0 < low <= high, got {rng!r}')
        if max_rotation < 0 or max_shift < 0 or wobble < 0:
            raise ValueError('max_rotation, max_shift and wobble must be >= 0, got '
                             f'{max_rotation}, {max_shift}, {wobble}')
        self.num_pairs = int(num_pairs)
        self.seed = int(seed)
        self.warp_cfg = dict(max_rotation=float(max_rotation),
                             scale_range=(float(scale_range[0]), float(scale_range[1])),
                             max_shift=float(max_shift), wobble=float(wobble),
                             wobble_freq=(float(wobble_freq[0]), float(wobble_freq[1])))
        self.image_dir = image_dir
        self.files = self._list_files(image_dir, image_range)
        self._cache: Dict[str, Tensor] = {}
        self.metainfo = dict(image_size=self.image_size, num_images=len(self.files),
                             source='textures' if not self.files else image_dir)

    @staticmethod
    def _list_files(image_dir: Optional[str], image_range: Optional[Sequence[int]]) -> List[str]:
        if image_dir is None:
            return []
        if not osp.isdir(image_dir):
            warnings.warn(f'SyntheticWarpPairsDataset: image_dir {image_dir!r} is not a folder; '
                          'using procedural textures')
            return []
        files = sorted(osp.join(image_dir, f) for f in os.listdir(image_dir)
                       if f.lower().endswith(IMAGE_SUFFIXES))
        if image_range is not None:
            if len(image_range) != 2:
                raise ValueError(f'image_range must be (start, stop), got {image_range!r}')
            files = files[int(image_range[0]):int(image_range[1])]
            if not files:
                raise ValueError(f'image_range {tuple(image_range)} selects no file of '
                                 f'{image_dir}')
        return files

    def __len__(self) -> int:
        return self.num_pairs

    def _source(self, rng: np.random.Generator) -> Tuple[Tensor, str]:
        """``(1, 3, H, W)`` source frame and its name."""
        if not self.files:
            return procedural_texture(self.image_size, int(rng.integers(2**31))), 'texture'
        path = self.files[int(rng.integers(len(self.files)))]
        if path not in self._cache:
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f'{path} is not an image file OpenCV can read')
            h, w = self.image_size
            rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (w, h),
                             interpolation=cv2.INTER_AREA)
            self._cache[path] = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        return self._cache[path], osp.basename(path)

    def __getitem__(self, index: int) -> Dict:
        if not 0 <= index < self.num_pairs:
            raise IndexError(f'index {index} out of range [0, {self.num_pairs})')
        rng = np.random.default_rng([self.seed, int(index)])
        source, name = self._source(rng)
        grid = random_warp_grid(self.image_size, int(rng.integers(2**31)), **self.warp_cfg)
        target = F.grid_sample(source, grid, mode='bilinear', padding_mode='zeros',
                               align_corners=False)
        h, w = self.image_size
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing='ij')
        flow = grid_to_pixels(grid[0]) - torch.stack([xs, ys], -1)
        return dict(inputs=torch.cat([source, target]),
                    data_samples=dict(grid=grid[0], flow=flow, source=name, index=int(index)))
