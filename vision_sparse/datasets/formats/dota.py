"""DOTA ``labelTxt`` parser.

File format (DOTA v1.0 / v1.5 / v2.0)::

    imagesource:GoogleEarth        <- optional header line
    gsd:0.146343590398            <- optional header line ('null' allowed)
    x1 y1 x2 y2 x3 y3 x4 y4 category difficult
    ...

Coordinates are pixels of the full-size image, corners going around the object
(clockwise on screen in the official labels, starting at the "head" corner).
``difficult`` is ``0``/``1`` and may be missing (then 0). Blank lines are
skipped.
"""
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

import numpy as np

from vision_sparse.structures.bbox.rotated_boxes import poly2rbox

__all__ = ['oriented_annotations', 'parse_dota_lines', 'load_dota_txt', 'read_text']

PathLike = Union[str, os.PathLike]


def oriented_annotations(polys: List[List[float]], labels: List[str],
                         difficult: List[bool], meta: Dict,
                         scale: float = 1.0) -> Dict:
    """The annotation dict of :func:`load_dota_txt` (DIOR-R's too).

    Args:
        polys (list[list[float]]): ``N`` polygons ``x1 y1 ... x4 y4``, pixels.
        labels (list[str]): ``N`` category names.
        difficult (list[bool]): ``N`` flags.
        meta (dict): file metadata, returned as it is.
        scale (float): factor applied to all coordinates.

    Returns:
        dict: ``polys`` ``(N, 8)`` float32 (scaled), ``rboxes`` ``(N, 5)``
        float32 (``'le90'``, from :func:`poly2rbox` in float64), ``labels``,
        ``difficult`` ``(N,)`` bool, ``meta``; ``N = 0`` gives empty arrays.
    """
    if not polys:
        return dict(
            polys=np.zeros((0, 8), np.float32),
            rboxes=np.zeros((0, 5), np.float32),
            labels=[],
            difficult=np.zeros((0, ), bool),
            meta=meta)
    poly_arr = np.asarray(polys, np.float64) * scale
    return dict(
        polys=poly_arr.astype(np.float32),
        rboxes=poly2rbox(poly_arr, pattern='le90').astype(np.float32),
        labels=list(labels),
        difficult=np.asarray(difficult, bool),
        meta=meta)


def _parse_gsd(value: str) -> Optional[float]:
    try:
        return float(value)
    except ValueError:
        return None  # e.g. 'null' in DOTA v1.5


def parse_dota_lines(lines: Iterable[str],
                     scale: float = 1.0,
                     source: str = '<lines>') -> Dict:
    """Parse the lines of a DOTA label file (see :func:`load_dota_txt`).

    Args:
        lines (Iterable[str]): text lines.
        scale (float): factor applied to all coordinates (e.g. ``170 / 1024``
            for a shrunk 1024-pixel patch).
        source (str): name used in error messages.

    Returns:
        dict: see :func:`load_dota_txt`.

    Raises:
        ValueError: for a malformed line (its number is given; NaN or inf
            coordinates included) or ``scale <= 0``.
    """
    if not scale > 0:
        raise ValueError(f'scale must be > 0, got {scale}')
    meta: Dict = dict(imagesource=None, gsd=None)
    polys: List[List[float]] = []
    labels: List[str] = []
    difficult: List[bool] = []
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        low = line.lower()
        if low.startswith('imagesource:'):
            meta['imagesource'] = line.split(':', 1)[1].strip() or None
            continue
        if low.startswith('gsd:'):
            meta['gsd'] = _parse_gsd(line.split(':', 1)[1].strip())
            continue
        fields = line.split()
        if len(fields) not in (9, 10):
            raise ValueError(
                f'{source}:{lineno}: expected "x1 y1 x2 y2 x3 y3 x4 y4 '
                f'category [difficult]" (9 or 10 fields), got {len(fields)}: '
                f'{line!r}')
        try:
            coords = [float(v) for v in fields[:8]]
        except ValueError:
            raise ValueError(f'{source}:{lineno}: non-numeric coordinate in '
                             f'{line!r}') from None
        if not np.isfinite(coords).all():
            raise ValueError(f'{source}:{lineno}: non-finite coordinate (nan / inf) in '
                             f'{line!r}')
        polys.append(coords)
        labels.append(fields[8])
        if len(fields) == 10:
            if fields[9] not in ('0', '1'):
                raise ValueError(f'{source}:{lineno}: difficult must be 0 or '
                                 f'1, got {fields[9]!r}')
            difficult.append(fields[9] == '1')
        else:
            difficult.append(False)
    return oriented_annotations(polys, labels, difficult, meta, scale)


def load_dota_txt(path: PathLike, scale: float = 1.0) -> Dict:
    """Load one DOTA ``labelTxt`` file.

    Args:
        path (str | PathLike): the ``.txt`` file.
        scale (float): factor applied to all coordinates (pixels of the image
            you draw on = label pixels * scale).

    Returns:
        dict: ``polys`` ``(N, 8)`` float32 pixels (x1 y1 ... x4 y4, file order),
        ``rboxes`` ``(N, 5)`` float32 minimum-area rotated boxes
        ``(cx, cy, w, h, theta)`` in the ``'le90'`` range (``w`` along the
        first polygon edge), ``labels`` list of N category names,
        ``difficult`` ``(N,)`` bool, ``meta`` dict ``imagesource`` (str | None)
        and ``gsd`` (float metres/pixel | None). A file without objects gives
        ``N = 0`` arrays.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for a malformed line (non-finite coordinates included) or a
            file that is not UTF-8 text (binary, UTF-16).
    """
    path = Path(path)
    return parse_dota_lines(read_text(path, 'DOTA labelTxt file').splitlines(), scale=scale,
                            source=str(path))


def read_text(path: PathLike, what: str = 'text file') -> str:
    """The content of a UTF-8 (or ASCII) text file.

    A UTF-8 byte-order mark is dropped.

    Args:
        path (str | PathLike): the file.
        what (str): what the file is, for the error message.

    Returns:
        str: the decoded text.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file is not UTF-8 text (binary data, UTF-16, any
            NUL byte); the message names the file and the first bad byte.
    """
    data = Path(path).read_bytes()
    if data[:2] in (b'\xff\xfe', b'\xfe\xff'):
        raise ValueError(f'{path}: {what} is not UTF-8 text: it starts with a UTF-16 '
                         'byte-order mark (re-save it as UTF-8)')
    if b'\x00' in data:
        i = data.index(b'\x00')
        raise ValueError(f'{path}: {what} is not UTF-8 text: byte {i} is NUL (it holds NUL '
                         'bytes: binary data or UTF-16; re-save it as UTF-8)')
    try:
        return data.decode('utf-8-sig')
    except UnicodeDecodeError as err:
        raise ValueError(f'{path}: {what} is not UTF-8 text: byte {err.start} '
                         f'(0x{data[err.start]:02x}) cannot be decoded') from None
