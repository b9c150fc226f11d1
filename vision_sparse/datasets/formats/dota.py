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
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from vision_sparse.structures.bbox.rotated_boxes import poly2rbox

__all__ = ['oriented_annotations', 'parse_dota_lines', 'load_dota_txt', 'read_text',
           'write_dota_txt', 'write_label_rows']

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
                     source: str = '<lines>',
                     on_error: str = 'raise') -> Dict:
    """Parse the lines of a DOTA label file (see :func:`load_dota_txt`).

    Args:
        lines (Iterable[str]): text lines.
        scale (float): factor applied to all coordinates (e.g. ``170 / 1024``
            for a shrunk 1024-pixel patch).
        source (str): name used in error messages.
        on_error (str): ``'raise'`` (a malformed line raises) or ``'skip'``
            (the line is left out and its message appended to
            ``meta['skipped']``).

    Returns:
        dict: see :func:`load_dota_txt`; with ``on_error='skip'``,
        ``meta['skipped']`` is the list of messages of the lines left out.

    Raises:
        ValueError: for a malformed line (its number is given; NaN or inf
            coordinates included) when ``on_error='raise'``, ``scale <= 0`` or
            an unknown ``on_error``.
    """
    if not scale > 0:
        raise ValueError(f'scale must be > 0, got {scale}')
    if on_error not in ('raise', 'skip'):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    meta: Dict = dict(imagesource=None, gsd=None)
    if on_error == 'skip':
        meta['skipped'] = []
    polys: List[List[float]] = []
    labels: List[str] = []
    difficult: List[bool] = []
    for lineno, raw in enumerate(lines, 1):
        try:
            parsed = _parse_line(raw, lineno, source, meta)
        except ValueError as err:
            if on_error == 'raise':
                raise
            meta['skipped'].append(str(err))
            continue
        if parsed is not None:
            polys.append(parsed[0])
            labels.append(parsed[1])
            difficult.append(parsed[2])
    return oriented_annotations(polys, labels, difficult, meta, scale)


def _parse_line(raw: str, lineno: int, source: str,
                meta: Dict) -> Optional[Tuple[List[float], str, bool]]:
    """One line of a DOTA file: ``(coords, label, difficult)``, or None for a
    blank or header line (headers are stored in ``meta``).

    Raises:
        ValueError: for a malformed line.
    """
    line = raw.strip()
    if not line:
        return None
    low = line.lower()
    if low.startswith('imagesource:'):
        meta['imagesource'] = line.split(':', 1)[1].strip() or None
        return None
    if low.startswith('gsd:'):
        meta['gsd'] = _parse_gsd(line.split(':', 1)[1].strip())
        return None
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
    if len(fields) == 10 and fields[9] not in ('0', '1'):
        raise ValueError(f'{source}:{lineno}: difficult must be 0 or '
                         f'1, got {fields[9]!r}')
    return coords, fields[8], len(fields) == 10 and fields[9] == '1'


def load_dota_txt(path: PathLike, scale: float = 1.0, on_error: str = 'raise') -> Dict:
    """Load one DOTA ``labelTxt`` file.

    Args:
        path (str | PathLike): the ``.txt`` file.
        scale (float): factor applied to all coordinates (pixels of the image
            you draw on = label pixels * scale).
        on_error (str): ``'raise'`` or ``'skip'`` malformed lines (see
            :func:`parse_dota_lines`; the messages go to ``meta['skipped']``).

    Returns:
        dict: ``polys`` ``(N, 8)`` float32 pixels (x1 y1 ... x4 y4, file order),
        ``rboxes`` ``(N, 5)`` float32 minimum-area rotated boxes
        ``(cx, cy, w, h, theta)`` in the ``'le90'`` range (``w`` along the
        first polygon edge), ``labels`` list of N category names,
        ``difficult`` ``(N,)`` bool, ``meta`` dict ``imagesource`` (str | None)
        and ``gsd`` (float metres/pixel | None), plus ``skipped`` (messages of
        the lines left out) with ``on_error='skip'``. A file without objects gives
        ``N = 0`` arrays.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for a malformed line (non-finite coordinates included) or a
            file that is not UTF-8 text (binary, UTF-16).
    """
    path = Path(path)
    return parse_dota_lines(read_text(path, 'DOTA labelTxt file').splitlines(), scale=scale,
                            source=str(path), on_error=on_error)


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


def write_dota_txt(path: PathLike, polys, labels: Sequence[str], difficult=None,
                   header: Optional[Dict] = None, decimals: int = 1) -> None:
    """Write one DOTA ``labelTxt`` file (the format read by :func:`load_dota_txt`).

    Args:
        path (str | PathLike): the ``.txt`` file (its folder is created).
        polys (array-like): ``(N, 8)`` polygons ``x1 y1 ... x4 y4``, pixels.
        labels (Sequence[str]): ``N`` category names (no whitespace).
        difficult (array-like, optional): ``(N,)`` flags; all 0 when None.
        header (dict, optional): ``imagesource`` / ``gsd`` header lines to write.
        decimals (int): decimals of the coordinates.

    Raises:
        ValueError: for mismatched lengths, a bad shape, non-finite
            coordinates or a category name with whitespace.
    """
    arr = np.asarray(polys, np.float64).reshape(-1, 8) if len(polys) else np.zeros((0, 8))
    header_rows = [f'{key}:{header[key]}' for key in ('imagesource', 'gsd')
                   if header and header.get(key) is not None]
    write_label_rows(path, arr, labels, difficult, 'polys', decimals, header_rows)


def write_label_rows(path: PathLike, coords: np.ndarray, labels: Sequence[str], difficult,
                     what: str, decimals: int, header_rows: Sequence[str] = ()) -> None:
    """Write ``coords... category difficult`` lines (DOTA and point-label files).

    Args:
        path (str | PathLike): the file (its folder is created).
        coords (np.ndarray): ``(N, K)`` coordinates, pixels.
        labels (Sequence[str]): ``N`` category names (one word each).
        difficult (array-like, optional): ``(N,)`` flags; all 0 when None.
        what (str): name of ``coords`` in messages.
        decimals (int): decimals of the coordinates.
        header_rows (Sequence[str]): lines written first.

    Raises:
        ValueError: for mismatched lengths, non-finite coordinates or a category
            name with whitespace.
    """
    labels = list(labels)
    flags = (np.zeros(len(coords), bool) if difficult is None
             else np.asarray(difficult, bool).reshape(-1))
    if not len(coords) == len(labels) == len(flags):
        raise ValueError(f'{what}, labels and difficult must have the same length, got '
                         f'{len(coords)}, {len(labels)} and {len(flags)}')
    if not np.isfinite(coords).all():
        raise ValueError(f'{path}: {what} hold NaN or infinite coordinates')
    bad = [name for name in labels if not name or len(str(name).split()) != 1]
    if bad:
        raise ValueError(f'{path}: category names must be one word, got {bad[0]!r}')
    rows = list(header_rows)
    for row, name, flag in zip(coords, labels, flags):
        rows.append(' '.join(f'{v:.{decimals}f}' for v in row) + f' {name} {int(flag)}')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(rows) + ('\n' if rows else ''), encoding='utf-8')
