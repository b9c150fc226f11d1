"""Cutting large aerial images into overlapping tiles (as DOTA_devkit's ``ImgSplit``) and
merging tile detections back.

Rules (our implementation of DOTA_devkit's splitting; differences noted):

* Windows: ``tile`` px squares every ``tile - gap`` px from the top-left; the last
  window of a row / column is moved back to end at the image border (so it
  overlaps more); an image smaller than a tile gives one window at ``(0, 0)``.
  Each image is first resized by every factor of ``rates``.
* Tiles are padded to ``tile x tile`` (``pad_value``) at the right / bottom border.
* An object is kept in a window when at least ``iof_thr`` (0.7) of its polygon's
  area lies inside. A wholly inside object is copied; a cut one gets the clipped
  polygon (the 4 clipped corners when the cut leaves a quadrilateral, else the
  minimum-area rectangle of the clipped polygon) and is marked difficult when
  ``cut_difficult`` (DOTA_devkit keeps its flag instead, and also writes objects
  below the threshold with difficulty ``2``; we drop them).
* Tile names: ``<id>__<tile>__<x>___<y>`` (mmrotate's naming, e.g.
  ``P0706__1024__0___0``) for rate 1, ``<id>__<rate>__<tile>__<x>___<y>``
  otherwise, ``x``, ``y`` the window offset in the resized image.
* Merging: detections are shifted by the window offset, divided by the rate, and
  reduced by class-aware rotated NMS per original image.
"""
import os
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

from vision_sparse.datasets.formats.dota import load_dota_txt, write_dota_txt
from vision_sparse.structures.bbox.rotated_boxes import points2rbox, rbox2poly

__all__ = ['tile_windows', 'clip_polygon', 'polygon_area', 'split_objects', 'tile_name',
           'parse_tile_name', 'split_image', 'split_dota_folder', 'merge_tile_detections']

_TILE_RE = re.compile(r'^(?P<img_id>.+?)(?:__(?P<rate>\d+(?:\.\d+)?))?__(?P<tile>\d+)'
                      r'__(?P<x>\d+)___(?P<y>\d+)$')


def tile_windows(width: int, height: int, tile: int = 1024, gap: int = 200) -> np.ndarray:
    """Tile windows covering an image.

    Args:
        width (int): image width, px.
        height (int): image height, px.
        tile (int): window side, px.
        gap (int): overlap of neighbouring windows, px, ``0 <= gap < tile``.

    Returns:
        np.ndarray: ``(K, 4)`` int64 ``x0, y0, x1, y1`` (``x1 = min(x0 + tile, W)``),
        row by row.

    Raises:
        ValueError: for a bad size, tile or gap.
    """
    if width < 1 or height < 1:
        raise ValueError(f'image size must be positive, got {width}x{height}')
    if tile < 1 or not 0 <= gap < tile:
        raise ValueError(f'need tile >= 1 and 0 <= gap < tile, got tile={tile}, gap={gap}')

    def starts(size: int) -> List[int]:
        out, pos = [], 0
        while True:
            if pos + tile >= size:
                out.append(max(size - tile, 0))
                return out
            out.append(pos)
            pos += tile - gap

    return np.array([[x, y, min(x + tile, width), min(y + tile, height)]
                     for y in starts(height) for x in starts(width)], np.int64)


def polygon_area(pts: np.ndarray) -> float:
    """Area of a simple polygon ``(K, 2)`` (shoelace), px^2."""
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return 0.0
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def clip_polygon(pts: np.ndarray, window: Sequence[float]) -> np.ndarray:
    """Clip a polygon to an axis-aligned window (Sutherland-Hodgman).

    Args:
        pts (np.ndarray): ``(K, 2)`` polygon.
        window (Sequence[float]): ``x0, y0, x1, y1``.

    Returns:
        np.ndarray: ``(M, 2)`` float64 clipped polygon (``M = 0`` when disjoint),
        without repeated vertices.
    """
    x0, y0, x1, y1 = (float(v) for v in window)
    out = [tuple(p) for p in np.asarray(pts, np.float64).reshape(-1, 2)]
    # (axis, bound, keep side): inside when sign * (coord - bound) >= 0
    for axis, bound, sign in ((0, x0, 1), (0, x1, -1), (1, y0, 1), (1, y1, -1)):
        if not out:
            break
        src, out = out, []
        for i, cur in enumerate(src):
            prev = src[i - 1]
            cur_in = sign * (cur[axis] - bound) >= 0
            prev_in = sign * (prev[axis] - bound) >= 0
            if cur_in != prev_in:
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                cross = [prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])]
                cross[axis] = bound
                out.append(tuple(cross))
            if cur_in:
                out.append(cur)
    res = []
    for p in out:  # drop repeated vertices (a corner on the window border)
        if not res or np.hypot(p[0] - res[-1][0], p[1] - res[-1][1]) > 1e-9:
            res.append(p)
    if len(res) > 1 and np.hypot(res[0][0] - res[-1][0], res[0][1] - res[-1][1]) <= 1e-9:
        res.pop()
    return np.asarray(res, np.float64).reshape(-1, 2)


def _best_start(quad: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Cyclic shift of ``quad`` (4, 2) whose corners lie closest to ``ref`` (4, 2)."""
    shifts = [np.roll(quad, -k, axis=0) for k in range(4)]
    return min(shifts, key=lambda q: float(((q - ref) ** 2).sum()))


def split_objects(polys: np.ndarray, window: Sequence[int], iof_thr: float = 0.7,
                  cut_difficult: bool = True) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The objects of one window.

    Args:
        polys (np.ndarray): ``(N, 8)`` polygons in image pixels.
        window (Sequence[int]): ``x0, y0, x1, y1``.
        iof_thr (float): smallest kept fraction of an object's area inside.
        cut_difficult (bool): mark objects cut by the window difficult.

    Returns:
        tuple: ``index`` ``(M,)`` int64 of the kept objects, ``polys`` ``(M, 8)``
        float64 in window pixels (shifted by ``-x0, -y0``), ``cut`` ``(M,)`` bool
        (clipped objects; difficult when ``cut_difficult``).
    """
    polys = np.asarray(polys, np.float64).reshape(-1, 4, 2)
    x0, y0 = float(window[0]), float(window[1])
    index, out, cut = [], [], []
    for i, quad in enumerate(polys):
        area = polygon_area(quad)
        if area <= 0:
            continue
        clipped = clip_polygon(quad, window)
        frac = polygon_area(clipped) / area
        if frac < iof_thr - 1e-9:
            continue
        whole = frac >= 1 - 1e-9
        if whole:
            new = quad
        elif len(clipped) == 4:
            new = _best_start(clipped, quad)
        else:
            new = _best_start(rbox2poly(points2rbox(clipped)).reshape(4, 2), quad)
        index.append(i)
        out.append(new - [x0, y0])
        cut.append(not whole)
    return (np.asarray(index, np.int64), np.asarray(out, np.float64).reshape(-1, 8),
            np.asarray(cut, bool))


def tile_name(img_id: str, tile: int, x: int, y: int, rate: float = 1.0) -> str:
    """``<id>__<tile>__<x>___<y>`` (rate 1) or ``<id>__<rate>__<tile>__<x>___<y>``."""
    if rate == 1:
        return f'{img_id}__{tile}__{x}___{y}'
    return f'{img_id}__{rate:g}__{tile}__{x}___{y}'


def parse_tile_name(name: str) -> Dict:
    """Inverse of :func:`tile_name`.

    Returns:
        dict: ``img_id`` (str), ``tile`` (int), ``x``, ``y`` (int, window offset in
        the resized image), ``rate`` (float).

    Raises:
        ValueError: for a name that is not a tile name.
    """
    stem = re.sub(r'\.[A-Za-z][A-Za-z0-9]*$', '', osp.basename(name))  # .png, .txt, ...
    match = _TILE_RE.match(stem)
    if match is None:
        raise ValueError(f'{name!r} is not a tile name <id>__[<rate>__]<tile>__<x>___<y>')
    return dict(img_id=match['img_id'], tile=int(match['tile']), x=int(match['x']),
                y=int(match['y']), rate=float(match['rate']) if match['rate'] else 1.0)


def split_image(img: np.ndarray, polys: Optional[np.ndarray] = None,
                labels: Optional[Sequence[str]] = None, difficult=None, img_id: str = 'img',
                tile: int = 1024, gap: int = 200, rates: Sequence[float] = (1.0, ),
                iof_thr: float = 0.7, cut_difficult: bool = True,
                pad_value: Union[int, Sequence[int]] = 0) -> List[Dict]:
    """Cut one image (and its objects) into tiles.

    Args:
        img (np.ndarray): ``(H, W[, C])`` image.
        polys (np.ndarray, optional): ``(N, 8)`` polygons in image pixels (None: no
            labels, e.g. a test image).
        labels (Sequence[str], optional): ``N`` category names.
        difficult (array-like, optional): ``(N,)`` flags.
        img_id (str): name of the image (tile-name prefix).
        tile (int): tile side, px.
        gap (int): overlap, px.
        rates (Sequence[float]): resize factors applied before cutting.
        iof_thr (float): smallest kept fraction of a cut object.
        cut_difficult (bool): mark cut objects difficult.
        pad_value (int | Sequence[int]): fill of the padding.

    Returns:
        list[dict]: one dict per tile: ``name``, ``x``, ``y``, ``rate``, ``img``
        (``tile x tile``), and with labels ``polys`` ``(M, 8)`` float64 in tile
        pixels, ``labels`` list[str], ``difficult`` ``(M,)`` bool.
    """
    if polys is not None:
        polys = np.asarray(polys, np.float64).reshape(-1, 8)
        labels = list(labels) if labels is not None else ['object'] * len(polys)
        difficult = (np.zeros(len(polys), bool) if difficult is None
                     else np.asarray(difficult, bool).reshape(-1))
        if not len(polys) == len(labels) == len(difficult):
            raise ValueError('polys, labels and difficult must have the same length')
    tiles = []
    for rate in rates:
        if not rate > 0:
            raise ValueError(f'rates must be > 0, got {rate}')
        scaled = img if rate == 1 else cv2.resize(img, None, fx=rate, fy=rate,
                                                  interpolation=cv2.INTER_CUBIC)
        h, w = scaled.shape[:2]
        for x0, y0, x1, y1 in tile_windows(w, h, tile, gap).tolist():
            patch = np.full((tile, tile) + scaled.shape[2:], pad_value, scaled.dtype)
            patch[:y1 - y0, :x1 - x0] = scaled[y0:y1, x0:x1]
            out = dict(name=tile_name(img_id, tile, x0, y0, rate), x=x0, y=y0, rate=rate,
                       img=patch)
            if polys is not None:
                idx, tile_polys, cut = split_objects(polys * rate, (x0, y0, x1, y1), iof_thr)
                out.update(polys=tile_polys, labels=[labels[i] for i in idx],
                           difficult=difficult[idx] | (cut & cut_difficult))
            tiles.append(out)
    return tiles


def split_dota_folder(src: str, out: str, tile: int = 1024, gap: int = 200,
                      rates: Sequence[float] = (1.0, ), iof_thr: float = 0.7,
                      cut_difficult: bool = True, img_dir: str = 'images',
                      ann_dir: str = 'labelTxt', ext: str = '.png',
                      skip_empty: bool = False) -> List[str]:
    """Split a DOTA folder (``src/images``, ``src/labelTxt``) into ``out/images`` and
    ``out/labelTxt`` tiles.

    Images without a label file (a test split) give image tiles only.

    Args:
        src (str): source folder.
        out (str): output folder (created).
        tile, gap, rates, iof_thr, cut_difficult: see :func:`split_image`.
        img_dir (str): image sub-folder of ``src``.
        ann_dir (str): label sub-folder of ``src``.
        ext (str): output image suffix.
        skip_empty (bool): do not write tiles without objects.

    Returns:
        list[str]: names of the written tiles.

    Raises:
        FileNotFoundError: if the image folder does not exist.
        ValueError: for an image that cannot be decoded (named).
    """
    src_img = osp.join(src, img_dir)
    if not osp.isdir(src_img):
        raise FileNotFoundError(f'image folder {src_img} does not exist')
    os.makedirs(osp.join(out, 'images'), exist_ok=True)
    written = []
    for fname in sorted(os.listdir(src_img)):
        img_id, suffix = osp.splitext(fname)
        if suffix.lower() not in ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp'):
            continue
        img = cv2.imread(osp.join(src_img, fname), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f'{osp.join(src_img, fname)}: the image cannot be decoded')
        ann_path = osp.join(src, ann_dir, img_id + '.txt')
        ann = load_dota_txt(ann_path) if osp.isfile(ann_path) else None
        tiles = split_image(img, None if ann is None else ann['polys'],
                            None if ann is None else ann['labels'],
                            None if ann is None else ann['difficult'], img_id=img_id,
                            tile=tile, gap=gap, rates=rates, iof_thr=iof_thr,
                            cut_difficult=cut_difficult)
        for t in tiles:
            if skip_empty and ann is not None and not len(t['polys']):
                continue
            cv2.imwrite(osp.join(out, 'images', t['name'] + ext), t['img'])
            if ann is not None:
                write_dota_txt(osp.join(out, 'labelTxt', t['name'] + '.txt'), t['polys'],
                               t['labels'], t['difficult'], decimals=2)
            written.append(t['name'])
    return written


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, 'tensor'):
        value = value.tensor
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def merge_tile_detections(per_tile_results: Iterable, iou_thr: float = 0.1) -> Dict[str, Dict]:
    """Merge the detections of tiles into detections of their original images.

    Args:
        per_tile_results (Iterable): one entry per tile, either a dict with
            ``bboxes`` ``(N, 5)`` (array, tensor or ``RotatedBoxes``; tile pixels),
            ``scores`` ``(N,)``, ``labels`` ``(N,)`` and ``img_id`` (a tile name, see
            :func:`parse_tile_name`) or ``ori_id`` + ``offset`` ``(x, y)`` [+ ``rate``];
            or an mmdet ``DetDataSample`` with ``pred_instances`` and a tile-name
            ``img_id`` in its metainfo.
        iou_thr (float): rotated-NMS IoU threshold (per image and class).

    Returns:
        dict: original image id -> dict ``bboxes`` ``(K, 5)`` float32 (original image
        pixels, 'le90'), ``scores`` ``(K,)`` float32, ``labels`` ``(K,)`` int64, by
        decreasing score.

    Raises:
        ValueError: for an entry without a tile name or offset, or mismatched lengths.
    """
    from vision_sparse.ops import batched_nms_rotated
    from vision_sparse.structures.bbox.rotated_boxes import regularize_boxes

    groups: Dict[str, List[Tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for res in per_tile_results:
        if hasattr(res, 'pred_instances'):
            pred = res.pred_instances
            res = dict(bboxes=pred.bboxes, scores=pred.scores, labels=pred.labels,
                       img_id=res.metainfo.get('img_id'))
        if 'offset' in res:
            ori_id, (x, y), rate = res['ori_id'], res['offset'], float(res.get('rate', 1.0))
        elif res.get('img_id') is not None:
            info = parse_tile_name(str(res['img_id']))
            ori_id, x, y, rate = info['img_id'], info['x'], info['y'], info['rate']
        else:
            raise ValueError('each tile result needs img_id (a tile name) or ori_id + offset')
        boxes = _as_numpy(res['bboxes']).astype(np.float64).reshape(-1, 5)
        scores = _as_numpy(res['scores']).astype(np.float64).reshape(-1)
        labels = _as_numpy(res['labels']).astype(np.int64).reshape(-1)
        if not len(boxes) == len(scores) == len(labels):
            raise ValueError(f'tile {ori_id} at ({x}, {y}): bboxes, scores and labels have '
                             f'lengths {len(boxes)}, {len(scores)}, {len(labels)}')
        boxes = boxes.copy()
        boxes[:, 0] += x
        boxes[:, 1] += y
        boxes[:, :4] /= rate
        groups.setdefault(str(ori_id), []).append((boxes, scores, labels))
    merged = {}
    for ori_id, parts in groups.items():
        boxes = torch.from_numpy(np.concatenate([p[0] for p in parts]))
        scores = torch.from_numpy(np.concatenate([p[1] for p in parts]))
        labels = torch.from_numpy(np.concatenate([p[2] for p in parts]))
        keep = (batched_nms_rotated(boxes.float(), scores.float(), labels, iou_thr)
                if len(boxes) else torch.zeros(0, dtype=torch.long))
        merged[ori_id] = dict(
            bboxes=regularize_boxes(boxes[keep].numpy()).astype(np.float32).reshape(-1, 5),
            scores=scores[keep].numpy().astype(np.float32),
            labels=labels[keep].numpy().astype(np.int64))
    return merged
