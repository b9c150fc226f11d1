"""Single-point labels: sampling one point per object from its box, and point-label files.

Point-label file format (one UTF-8 text file per image, ``<image stem>.txt``)::

    # comment lines and blank lines are ignored
    x y category [difficult]
    512.5 300.0 ship 0
    80 41.25 plane

``x``, ``y``: pixels of the full image in the frame of the DOTA polygons (x right,
y down; pixel ``i`` covers ``[i, i + 1)``, so the image spans ``[0, W] x [0, H]``);
``category``: one word; ``difficult``: ``0``/``1``, 0 when missing. Read with
:func:`load_point_txt`, written with :func:`write_point_txt`.

Sampling rule (:func:`sample_points`), deterministic from ``(seed, image id)``
through :func:`point_rng`:

* ``'center'``: the box centre.
* ``'ellipse'`` (the official PointOBB data script): uniform inside the ellipse
  centred on the box centre with semi-axes ``scale * w`` and ``scale * h`` along
  the box axes (the official script uses ``scale = 0.1``; ``0`` / ``0.2`` also appear
  there). With ``scale <= 0.5`` the point is inside the box.
* ``'gaussian'``: box-frame offsets ``N(0, (scale * w)^2)``, ``N(0, (scale * h)^2)``,
  redrawn (up to 32 times, then clipped) until they lie inside the box.
"""
import os
import zlib
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from vision_sparse.datasets.formats.dota import read_text, write_label_rows

__all__ = ['POINT_MODES', 'point_rng', 'sample_points', 'parse_point_lines', 'load_point_txt',
           'write_point_txt']

PathLike = Union[str, os.PathLike]

#: accepted ``point_mode`` values
POINT_MODES = ('center', 'ellipse', 'gaussian')


def point_rng(seed: int, key: str) -> np.random.Generator:
    """The random generator of one image: the same ``(seed, key)`` always gives the
    same points, whatever the order in which images are read.

    Args:
        seed (int): dataset seed.
        key (str): image id.

    Returns:
        np.random.Generator: a fresh generator.
    """
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(str(key).encode())])


def sample_points(rboxes: np.ndarray, mode: str = 'ellipse', scale: float = 0.1,
                  rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """One point per rotated box (see the module docstring for the rules).

    Args:
        rboxes (np.ndarray): ``(N, 5)`` boxes ``(cx, cy, w, h, theta)``, pixels, radians.
        mode (str): ``'center'``, ``'ellipse'`` or ``'gaussian'``.
        scale (float): ellipse semi-axes / Gaussian std as a fraction of ``w`` and ``h``,
            in ``[0, 0.5]``.
        rng (np.random.Generator, optional): random source (a fixed default when None).

    Returns:
        np.ndarray: ``(N, 2)`` float32 points ``(x, y)``, pixels, inside their boxes.

    Raises:
        ValueError: for a bad shape, mode or scale.
    """
    boxes = np.asarray(rboxes, np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 5:
        raise ValueError(f'rboxes must have shape (N, 5), got {boxes.shape}')
    if mode not in POINT_MODES:
        raise ValueError(f'point mode must be one of {POINT_MODES}, got {mode!r}')
    if not 0 <= scale <= 0.5:
        raise ValueError(f'point scale must be in [0, 0.5] (a fraction of the box size), '
                         f'got {scale}')
    n = len(boxes)
    rng = np.random.default_rng(0) if rng is None else rng
    if mode == 'center' or n == 0:
        offsets = np.zeros((n, 2))
    elif mode == 'ellipse':
        phi = rng.uniform(0, 2 * np.pi, n)
        radius = np.sqrt(rng.uniform(0, 1, n))
        offsets = np.stack([radius * np.cos(phi), radius * np.sin(phi)], -1) * scale
    else:
        offsets = rng.normal(0.0, scale, (n, 2)) if scale > 0 else np.zeros((n, 2))
        for _ in range(32):
            out = np.abs(offsets).max(1) > 0.5
            if not out.any():
                break
            offsets[out] = rng.normal(0.0, scale, (int(out.sum()), 2))
        offsets = np.clip(offsets, -0.5, 0.5)
    du, dv = offsets[:, 0] * boxes[:, 2], offsets[:, 1] * boxes[:, 3]
    cos, sin = np.cos(boxes[:, 4]), np.sin(boxes[:, 4])
    pts = np.stack([boxes[:, 0] + cos * du - sin * dv, boxes[:, 1] + sin * du + cos * dv], -1)
    return pts.astype(np.float32)


def parse_point_lines(lines: Sequence[str], source: str = '<lines>',
                      on_error: str = 'raise') -> Dict:
    """Parse the lines of a point-label file (format in the module docstring).

    Args:
        lines (Sequence[str]): text lines.
        source (str): name used in messages.
        on_error (str): ``'raise'`` or ``'skip'`` malformed lines (their messages go to
            ``skipped``).

    Returns:
        dict: ``points`` ``(N, 2)`` float32, ``labels`` list[str], ``difficult``
        ``(N,)`` bool, ``skipped`` list[str].

    Raises:
        ValueError: for a malformed line (its number is given; NaN / inf included)
            when ``on_error='raise'``.
    """
    if on_error not in ('raise', 'skip'):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    points: List[List[float]] = []
    labels: List[str] = []
    difficult: List[bool] = []
    skipped: List[str] = []
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        fields = line.split()
        problem = ''
        if len(fields) not in (3, 4):
            problem = (f'expected "x y category [difficult]" (3 or 4 fields), got '
                       f'{len(fields)}: {line!r}')
        else:
            try:
                xy = [float(fields[0]), float(fields[1])]
            except ValueError:
                xy, problem = [], f'non-numeric coordinate in {line!r}'
            if xy and not np.isfinite(xy).all():
                problem = f'non-finite coordinate (nan / inf) in {line!r}'
            elif len(fields) == 4 and fields[3] not in ('0', '1'):
                problem = f'difficult must be 0 or 1, got {fields[3]!r}'
        if problem:
            if on_error == 'raise':
                raise ValueError(f'{source}:{lineno}: {problem}')
            skipped.append(f'{source}:{lineno}: {problem}')
            continue
        points.append(xy)
        labels.append(fields[2])
        difficult.append(len(fields) == 4 and fields[3] == '1')
    return dict(points=np.asarray(points, np.float32).reshape(-1, 2), labels=labels,
                difficult=np.asarray(difficult, bool), skipped=skipped)


def load_point_txt(path: PathLike, on_error: str = 'raise') -> Dict:
    """Load one point-label file (see :func:`parse_point_lines`).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for a malformed line (``on_error='raise'``) or a file that is not
            UTF-8 text.
    """
    path = Path(path)
    return parse_point_lines(read_text(path, 'point-label file').splitlines(), str(path),
                             on_error)


def write_point_txt(path: PathLike, points, labels: Sequence[str], difficult=None,
                    decimals: int = 2) -> None:
    """Write one point-label file.

    Args:
        path (str | PathLike): the ``.txt`` file (its folder is created).
        points (array-like): ``(N, 2)`` points ``(x, y)``, pixels.
        labels (Sequence[str]): ``N`` category names (one word each).
        difficult (array-like, optional): ``(N,)`` flags (0 when None).
        decimals (int): decimals of the coordinates.

    Raises:
        ValueError: for mismatched lengths, a bad shape, non-finite points or a
            category name with whitespace.
    """
    pts = np.asarray(points, np.float64)
    pts = pts.reshape(-1, 2) if pts.size or pts.ndim == 1 else pts
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f'points must have shape (N, 2), got {pts.shape}')
    write_label_rows(path, pts, labels, difficult, 'points', decimals)
