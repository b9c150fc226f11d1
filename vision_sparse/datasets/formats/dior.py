"""DIOR-R (oriented DIOR) Pascal-VOC-style XML parser.

Each ``<object>`` holds ``<name>``, ``<difficult>`` and a ``<robndbox>`` with
four corners ``x_left_top y_left_top x_right_top y_right_top x_right_bottom
y_right_bottom x_left_bottom y_left_bottom`` (pixels) plus an ``<angle>`` in
degrees. The corners are read in that order (clockwise on screen); the rotated
box is the minimum-area rectangle of the corners, so ``<angle>`` is only kept
as metadata. Objects with only a horizontal ``<bndbox>`` become axis-aligned
rectangles.
"""
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np

from .dota import oriented_annotations

__all__ = ['load_dior_xml']

PathLike = Union[str, os.PathLike]

_CORNER_TAGS = ('x_left_top', 'y_left_top', 'x_right_top', 'y_right_top',
                'x_right_bottom', 'y_right_bottom', 'x_left_bottom',
                'y_left_bottom')


def _text(node: Optional[ET.Element], tag: str) -> Optional[str]:
    if node is None:
        return None
    child = node.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _num(node: ET.Element, tag: str, source: str) -> float:
    value = _text(node, tag)
    if value is None:
        raise ValueError(f'{source}: <{node.tag}> has no <{tag}>')
    try:
        out = float(value)
    except ValueError:
        raise ValueError(f'{source}: <{tag}> is not a number: '
                         f'{value!r}') from None
    if not np.isfinite(out):
        raise ValueError(f'{source}: <{tag}> is not finite: {value!r}')
    return out


def _size(node: Optional[ET.Element], tag: str, source: str) -> Optional[int]:
    """``<size><tag>`` as a positive int, None when absent."""
    value = _text(node, tag)
    if not value:
        return None
    try:
        out = float(value)
    except ValueError:
        out = float('nan')
    if not (np.isfinite(out) and out > 0 and out == int(out)):
        raise ValueError(f'{source}: <size><{tag}> must be a positive whole number of pixels, '
                         f'got {value!r}')
    return int(out)


def load_dior_xml(path: PathLike, scale: float = 1.0) -> Dict:
    """Load one DIOR-R annotation XML.

    Args:
        path (str | PathLike): the ``.xml`` file.
        scale (float): factor applied to all coordinates.

    Returns:
        dict: the same keys as :func:`~.dota.load_dota_txt`: ``polys``
        ``(N, 8)`` float32, ``rboxes`` ``(N, 5)`` float32 (``'le90'``),
        ``labels`` list[str], ``difficult`` ``(N,)`` bool, ``meta`` with
        ``imagesource`` and ``gsd`` (None for DIOR), ``filename``, ``width``,
        ``height`` (ints or None) and ``angles_deg`` ``(N,)`` float32 (the
        file's ``<angle>``, NaN when absent).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for malformed XML, a file that is not XML text (binary,
            undecodable), an object without a box, or a non-numeric /
            non-finite coordinate, angle or image size.
    """
    if not scale > 0:
        raise ValueError(f'scale must be > 0, got {scale}')
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise FileNotFoundError(f'DIOR annotation {source} does not exist')
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, UnicodeError, LookupError) as err:
        raise ValueError(f'{source}: invalid XML (binary data, truncated or a '
                         f'wrong encoding?): {err}') from None
    size = root.find('size')
    meta: Dict = dict(
        imagesource=None,
        gsd=None,
        filename=_text(root, 'filename'),
        width=_size(size, 'width', source),
        height=_size(size, 'height', source))
    polys: List[List[float]] = []
    labels: List[str] = []
    difficult: List[bool] = []
    angles: List[float] = []
    for obj in root.iter('object'):
        name = _text(obj, 'name')
        if not name:
            raise ValueError(f'{source}: <object> without <name>')
        rob = obj.find('robndbox')
        if rob is not None:
            coords = [_num(rob, tag, source) for tag in _CORNER_TAGS]
        else:
            box = obj.find('bndbox')
            if box is None:
                raise ValueError(f'{source}: object {name!r} has neither '
                                 '<robndbox> nor <bndbox>')
            x1, y1, x2, y2 = (_num(box, t, source)
                              for t in ('xmin', 'ymin', 'xmax', 'ymax'))
            coords = [x1, y1, x2, y1, x2, y2, x1, y2]
        polys.append(coords)
        labels.append(name)
        difficult.append((_text(obj, 'difficult') or '0') == '1')
        angle = _text(obj, 'angle')
        angles.append(_num(obj, 'angle', source) if angle not in (None, '') else np.nan)
    meta['angles_deg'] = np.asarray(angles, np.float32)
    return oriented_annotations(polys, labels, difficult, meta, scale)
