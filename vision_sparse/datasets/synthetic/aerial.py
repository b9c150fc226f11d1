"""Synthetic aerial images with exact oriented boxes, made from real samples.

Real objects are cut out of the sample images along their oriented boxes and pasted,
rotated by any angle and scaled, onto backgrounds taken from the same images with
every labelled object painted out (OpenCV inpainting), so each pasted object's box is
known exactly. Sources (below ``data_root``, the ``oriented`` sample folder):

================  =========================================  ========================
class             source                                     long side / aspect (w/h)
================  =========================================  ========================
plane             ``dota_patch`` (labels scaled 170/1024)    36-64 px / as cut (~1.2)
ship              ``dota/P0706``                             30-64 px / as cut (~3)
small-vehicle     ``dota/P1888``                             16-26 px / as cut (~2)
large-vehicle     ``dota/P1888``, stretched                  36-64 px / 4-6
storage-tank      a round cut of a background, shaded       18-48 px / 1 (circle)
golf-field        ``dior/00001``                             90-150 px / as cut (~1.3)
================  =========================================  ========================

``storage-tank`` is rotation-agnostic (``angle_agnostic_classes``): its mask is a disc
and its box is the square ``(cx, cy, d, d, 0)``. Boxes are ``(cx, cy, w, h, theta)``
'le90' radians, ``w`` the long side at paste time, in the frame where pixel ``i``
covers ``[i, i + 1)``. Objects lie wholly inside the image and overlap little (a
placement whose intersection exceeds ``max_overlap`` of either box's area is redrawn).
Everything is deterministic from ``(seed, index)``.
"""
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmdet.datasets import BaseDetDataset

from vision_sparse.registry import DATASETS
from vision_sparse.structures.bbox.rotated_boxes import rbox2poly, regularize_boxes

__all__ = ['AERIAL_CLASSES', 'AERIAL_ANGLE_AGNOSTIC', 'AerialSources', 'make_aerial_image',
           'sample_aerial_layout', 'render_aerial_layout', 'SyntheticAerialDataset',
           'write_dota_folder']

AERIAL_CLASSES = ('plane', 'ship', 'small-vehicle', 'large-vehicle', 'storage-tank', 'golf-field')
AERIAL_ANGLE_AGNOSTIC = ('storage-tank', )

#: class -> (long side range px, aspect range or None to keep the cut's)
_SIZES = {
    'plane': ((36, 64), None),
    'ship': ((30, 64), None),
    'small-vehicle': ((16, 26), None),
    'large-vehicle': ((36, 64), (4.0, 6.0)),
    'storage-tank': ((18, 48), (1.0, 1.0)),
    'golf-field': ((90, 150), None),
}

#: (sub-path of the image, label file, label scale, classes taken: source -> ours)
_SOURCES = (
    ('dota/images/P0706.png', 'dota/labelTxt/P0706.txt', 1.0, {'ship': 'ship'}),
    ('dota/images/P1888.png', 'dota/labelTxt/P1888.txt', 1.0,
     {'small-vehicle': 'small-vehicle', 'large-vehicle': 'large-vehicle'}),
    ('dota_patch/images/P2805__1024__0___0.png', 'dota_patch/labelTxt/P2805__1024__0___0.txt',
     170 / 1024, {'plane': 'plane'}),
    ('dior/JPEGImage/00001.jpg', 'dior/Annotations/Oriented Bounding Boxes/00001.xml', 1.0,
     {'golffield': 'golf-field'}),
)
#: images used as backgrounds (objects painted out)
_BACKGROUNDS = ('dota/images/P0706.png', 'dota/images/P1888.png')

#: labelled structures left in the backgrounds (not pasted classes, e.g. harbour piers)
_KEPT_IN_BACKGROUND = ('harbor', )

_CACHE: Dict[str, 'AerialSources'] = {}


def _paint_out(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill the ``mask > 0`` pixels of ``img`` from their surroundings (OpenCV Telea
    inpainting at half resolution, pasted back into the masked pixels only)."""
    h, w = img.shape[:2]
    small = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST)
    small_mask = cv2.dilate(small_mask, np.ones((3, 3), np.uint8))
    filled = cv2.inpaint(small, small_mask, 3, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    out = img.copy()
    out[mask > 0] = filled[mask > 0]
    return out


class AerialSources:
    """The real images, their object cuts and the object-free backgrounds.

    Args:
        data_root (str): the ``oriented`` sample folder (holding ``dota/``,
            ``dota_patch/``, ``dior/``).

    Raises:
        FileNotFoundError: naming the first missing sample file.
    """

    def __init__(self, data_root: str) -> None:
        from vision_sparse.datasets.formats import load_dior_xml, load_dota_txt
        self.data_root = str(data_root)
        self.images: List[np.ndarray] = []
        #: class -> list of (image index, (5,) box with w >= h)
        self.objects: Dict[str, List[Tuple[int, np.ndarray]]] = {}
        masks = {}
        for img_rel, ann_rel, scale, take in _SOURCES:
            img_path, ann_path = (osp.join(self.data_root, img_rel),
                                  osp.join(self.data_root, ann_rel))
            for path in (img_path, ann_path):
                if not osp.isfile(path):
                    raise FileNotFoundError(f'aerial sample file {path} does not exist '
                                            '(data_root must be the oriented sample folder)')
            img = cv2.imread(img_path, cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f'{img_path}: cannot be decoded')
            ann = (load_dior_xml(ann_path, scale) if ann_path.endswith('.xml')
                   else load_dota_txt(ann_path, scale))
            idx = len(self.images)
            self.images.append(img)
            boxes = regularize_boxes(ann['rboxes'].astype(np.float64), 'le90', width_longer=True)
            for box, name, diff in zip(boxes, ann['labels'], ann['difficult']):
                if name in take and not diff and box[3] >= 4:
                    self.objects.setdefault(take[name], []).append((idx, box))
            if img_rel in _BACKGROUNDS:
                mask = np.zeros(img.shape[:2], np.uint8)
                for poly, name in zip(ann['polys'], ann['labels']):
                    if name not in _KEPT_IN_BACKGROUND:
                        cv2.fillPoly(mask, [np.round(poly.reshape(4, 2)).astype(np.int32)], 255)
                masks[idx] = cv2.dilate(mask, np.ones((7, 7), np.uint8))
        self.backgrounds = [_paint_out(self.images[i], m) for i, m in sorted(masks.items())]

    @classmethod
    def get(cls, data_root: str) -> 'AerialSources':
        """The cached sources of ``data_root`` (loaded and inpainted once)."""
        key = osp.realpath(str(data_root))
        if key not in _CACHE:
            _CACHE[key] = cls(key)
        return _CACHE[key]


def _overlaps(box: np.ndarray, others: List[np.ndarray]) -> np.ndarray:
    """Intersection over the smaller area of ``box`` with each of ``others``."""
    if not others:
        return np.zeros(0)
    from vision_sparse.ops import box_iou_rotated
    a = torch.as_tensor(np.asarray([box]), dtype=torch.float32)
    b = torch.as_tensor(np.asarray(others), dtype=torch.float32)
    iof_a = box_iou_rotated(a, b, mode='iof')[0]  # over box's area
    iof_b = box_iou_rotated(b, a, mode='iof')[:, 0]  # over the others' areas
    return torch.maximum(iof_a, iof_b).numpy()


def sample_aerial_layout(sources: AerialSources, rng: np.random.Generator,
                         img_size: Tuple[int, int] = (512, 512),
                         num_objects: Tuple[int, int] = (5, 15),
                         classes: Sequence[str] = AERIAL_CLASSES,
                         max_overlap: float = 0.1, max_tries: int = 40) -> Dict:
    """Draw the background window and the objects of one image (no pixels yet).

    Args:
        sources (AerialSources): the real samples.
        rng (np.random.Generator): random source.
        img_size (tuple): ``(width, height)``.
        num_objects (tuple): inclusive ``(min, max)`` number of objects tried.
        classes (Sequence[str]): classes drawn uniformly (a subset of
            :data:`AERIAL_CLASSES`).
        max_overlap (float): largest intersection over either box's area.
        max_tries (int): placements tried per object before giving up on it.

    Returns:
        dict: ``size`` ``(W, H)``, ``background`` (index, x, y, scale, quarter turns,
        flip), ``objects``: dicts with ``name``, ``box`` ``(5,)`` (float64, exact
        pasted rectangle, w >= h, theta in ``[-pi, pi)``), ``source`` (image index,
        box) or ``tank`` (texture window and seed).
    """
    width, height = int(img_size[0]), int(img_size[1])
    bg_idx = int(rng.integers(len(sources.backgrounds)))
    bg = sources.backgrounds[bg_idx]
    turns = int(rng.integers(4))
    bh, bw = bg.shape[:2] if turns % 2 == 0 else bg.shape[1::-1]
    scale = max(width / bw, height / bh, float(rng.uniform(0.8, 1.2)))
    x = float(rng.uniform(0, bw * scale - width))
    y = float(rng.uniform(0, bh * scale - height))
    layout = dict(size=(width, height), objects=[],
                  background=(bg_idx, x, y, scale, turns, bool(rng.integers(2))))
    boxes: List[np.ndarray] = []
    for _ in range(int(rng.integers(num_objects[0], num_objects[1] + 1))):
        name = str(classes[int(rng.integers(len(classes)))])
        (lo, hi), aspect = _SIZES[name]
        for _ in range(max_tries):
            long_side = float(rng.uniform(lo, hi))
            obj = dict(name=name)
            if name == 'storage-tank':
                w = h = long_side
                theta = 0.0
                tex_idx = int(rng.integers(len(sources.backgrounds)))
                tex = sources.backgrounds[tex_idx]
                obj['tank'] = (tex_idx, int(rng.integers(tex.shape[1] - 64)),
                               int(rng.integers(tex.shape[0] - 64)), int(rng.integers(2**31)))
            else:
                pool = sources.objects[name]
                src_idx, src_box = pool[int(rng.integers(len(pool)))]
                ar = (src_box[2] / src_box[3] if aspect is None
                      else float(rng.uniform(*aspect)))
                w, h = long_side, long_side / ar
                theta = float(rng.uniform(-math.pi, math.pi))
                obj['source'] = (src_idx, src_box)
            # the axis-aligned extent must fit inside the image
            ext_x = abs(w * math.cos(theta)) + abs(h * math.sin(theta))
            ext_y = abs(w * math.sin(theta)) + abs(h * math.cos(theta))
            if ext_x + 2 > width or ext_y + 2 > height:
                continue
            cx = float(rng.uniform(ext_x / 2 + 1, width - ext_x / 2 - 1))
            cy = float(rng.uniform(ext_y / 2 + 1, height - ext_y / 2 - 1))
            box = np.array([cx, cy, w, h, theta])
            if len(boxes) and _overlaps(box, boxes).max() > max_overlap:
                continue
            obj['box'] = box
            boxes.append(box)
            layout['objects'].append(obj)
            break
    return layout


def _background(sources: AerialSources, layout: Dict) -> np.ndarray:
    bg_idx, x, y, scale, turns, flip = layout['background']
    width, height = layout['size']
    bg = np.ascontiguousarray(np.rot90(sources.backgrounds[bg_idx], turns))
    if flip:
        bg = np.ascontiguousarray(bg[:, ::-1])
    mat = np.array([[1 / scale, 0, (x + 0.5) / scale - 0.5],
                    [0, 1 / scale, (y + 0.5) / scale - 0.5]])
    return cv2.warpAffine(bg, mat, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def _tank_texture(sources: AerialSources, tank: Tuple[int, int, int, int]) -> np.ndarray:
    """A 64 x 64 round storage tank: a shaded real ground cut with a bright rim."""
    tex_idx, x, y, seed = tank
    rng = np.random.default_rng(seed)
    tex = sources.backgrounds[tex_idx][y:y + 64, x:x + 64]
    gray = cv2.cvtColor(tex, cv2.COLOR_BGR2GRAY).astype(np.float32)
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    r = np.hypot(xx - 31.5, yy - 31.5) / 32.0
    light = float(rng.uniform(150, 215))
    val = light + 0.35 * (gray - gray.mean()) - 25 * r ** 2
    val += 35 * ((r > 0.82) & (r <= 1.0))  # rim
    ang = np.arctan2(yy - 31.5, xx - 31.5)
    val -= 30 * np.clip(np.cos(ang - rng.uniform(-np.pi, np.pi)), 0, 1) * (r > 0.55) * (r < 0.82)
    tint = np.array(rng.uniform(0.92, 1.05, 3), np.float32)
    return np.clip(val[..., None] * tint, 0, 255).astype(np.uint8)


def _paste(canvas: np.ndarray, src: np.ndarray, src_box: np.ndarray, box: np.ndarray,
           round_mask: bool) -> np.ndarray:
    """Paste the rectangle ``src_box`` of ``src`` onto ``box`` of ``canvas`` (in place).

    Returns:
        np.ndarray: ``(H, W)`` float32 coverage (alpha) of the pasted object.
    """
    height, width = canvas.shape[:2]
    cx, cy, w, h, theta = (float(v) for v in box)
    sx, sy, sw, sh, st = (float(v) for v in src_box)
    corners = rbox2poly(np.asarray(box, np.float64)).reshape(4, 2)
    x0, y0 = np.floor(corners.min(0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    rot_t = np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]])
    rot_s = np.array([[math.cos(st), -math.sin(st)], [math.sin(st), math.cos(st)]])
    lin = rot_s @ np.diag([sw / w, sh / h]) @ rot_t  # canvas offsets -> source offsets
    off = np.array([sx - 0.5, sy - 0.5]) + lin @ (np.array([x0 + 0.5, y0 + 0.5]) - [cx, cy])
    mat = np.concatenate([lin, off[:, None]], 1)
    patch = cv2.warpAffine(src, mat, (x1 - x0, y1 - y0),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REFLECT)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
    if round_mask:
        alpha = np.clip(w / 2 - np.hypot(xx - cx, yy - cy) + 0.5, 0, 1)
    else:
        u = (xx - cx) * math.cos(theta) + (yy - cy) * math.sin(theta)
        v = -(xx - cx) * math.sin(theta) + (yy - cy) * math.cos(theta)
        alpha = np.clip(np.minimum(w / 2 - np.abs(u), h / 2 - np.abs(v)) + 0.5, 0, 1)
    a = alpha[..., None].astype(np.float32)
    roi = canvas[y0:y1, x0:x1]
    canvas[y0:y1, x0:x1] = np.round(a * patch + (1 - a) * roi).astype(np.uint8)
    full = np.zeros((height, width), np.float32)
    full[y0:y1, x0:x1] = alpha
    return full


def render_aerial_layout(sources: AerialSources, layout: Dict,
                         return_masks: bool = False):
    """Render a layout of :func:`sample_aerial_layout`.

    Args:
        sources (AerialSources): the real samples.
        layout (dict): the layout.
        return_masks (bool): also return each object's coverage.

    Returns:
        np.ndarray | tuple: ``(H, W, 3)`` BGR uint8 image; with ``return_masks`` also
        ``(N, H, W)`` float32 coverage in ``[0, 1]`` of each object as pasted (later
        objects may cover a little of earlier ones).
    """
    img = _background(sources, layout)
    masks = []
    for obj in layout['objects']:
        if 'tank' in obj:
            tex = _tank_texture(sources, obj['tank'])
            alpha = _paste(img, tex, np.array([32.0, 32.0, 64.0, 64.0, 0.0]), obj['box'], True)
        else:
            src_idx, src_box = obj['source']
            alpha = _paste(img, sources.images[src_idx], src_box, obj['box'], False)
        masks.append(alpha)
    if return_masks:
        width, height = layout['size']
        return img, (np.stack(masks) if masks else np.zeros((0, height, width), np.float32))
    return img


def _layout_targets(layout: Dict, classes: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    boxes = np.array([o['box'] for o in layout['objects']], np.float64).reshape(-1, 5)
    labels = np.array([list(classes).index(o['name']) for o in layout['objects']], np.int64)
    return regularize_boxes(boxes, 'le90').astype(np.float32), labels


def make_aerial_image(data_root: str, seed: int = 0, index: int = 0,
                      img_size: Tuple[int, int] = (512, 512),
                      num_objects: Tuple[int, int] = (5, 15),
                      classes: Sequence[str] = AERIAL_CLASSES, max_overlap: float = 0.1,
                      return_masks: bool = False) -> Dict:
    """One synthetic aerial image with exact oriented boxes.

    Args:
        data_root (str): the ``oriented`` sample folder.
        seed (int): seed of the set.
        index (int): image index (images depend only on ``(seed, index)``).
        img_size (tuple): ``(width, height)``.
        num_objects (tuple): inclusive ``(min, max)`` objects tried.
        classes (Sequence[str]): classes to draw from.
        max_overlap (float): largest intersection over either box's area.
        return_masks (bool): add ``masks`` ``(N, H, W)`` float32 coverage.

    Returns:
        dict: ``img`` ``(H, W, 3)`` BGR uint8, ``bboxes`` ``(N, 5)`` float32 'le90'
        radians, ``labels`` ``(N,)`` int64 (indices into ``classes``), ``names``
        list[str], ``layout``; ``masks`` with ``return_masks``.
    """
    unknown = set(classes) - set(AERIAL_CLASSES)
    if unknown:
        raise ValueError(f'classes must be among {AERIAL_CLASSES}, got {sorted(unknown)}')
    sources = AerialSources.get(data_root)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(index)])
    layout = sample_aerial_layout(sources, rng, img_size, num_objects, classes, max_overlap)
    out = render_aerial_layout(sources, layout, return_masks)
    img, masks = out if return_masks else (out, None)
    boxes, labels = _layout_targets(layout, classes)
    res = dict(img=img, bboxes=boxes, labels=labels,
               names=[o['name'] for o in layout['objects']], layout=layout)
    if return_masks:
        res['masks'] = masks
    return res


@DATASETS.register_module()
class SyntheticAerialDataset(BaseDetDataset):
    """Synthetic aerial images (see the module docstring) as an mmdet dataset.

    Data infos follow :class:`~vision_sparse.datasets.oriented.DOTADataset`
    (``bbox``, ``bbox_label``, ``ignore_flag`` = 0, ``point``); the image is rendered
    in ``prepare_data`` and given to the pipeline as ``img`` (BGR uint8), so the
    pipeline starts with ``LoadOrientedAnnotations`` (no image loading).

    Args:
        data_root (str): the ``oriented`` sample folder (required; never guessed).
        num_images (int): number of images.
        seed (int): seed; image ``i`` depends only on ``(seed, i)``.
        img_size (tuple): ``(width, height)``.
        num_objects (tuple): inclusive ``(min, max)`` objects per image.
        max_overlap (float): largest intersection over either box's area.
        point_mode (str): ``'center'``, ``'ellipse'`` or ``'gaussian'``
            (:func:`~vision_sparse.datasets.oriented.sample_points`).
        point_scale (float): fraction of the box size for the point spread.
        **kwargs: ``BaseDetDataset`` arguments (``pipeline``, ``test_mode``,
            ``metainfo=dict(classes=...)`` to use a subset of the classes).
    """

    METAINFO = dict(classes=AERIAL_CLASSES, palette=None,
                    angle_agnostic_classes=AERIAL_ANGLE_AGNOSTIC)

    def __init__(self, data_root: str = '', num_images: int = 16, seed: int = 0,
                 img_size: Tuple[int, int] = (512, 512), num_objects: Tuple[int, int] = (5, 15),
                 max_overlap: float = 0.1, point_mode: str = 'ellipse',
                 point_scale: float = 0.1, **kwargs) -> None:
        if not data_root or not osp.isdir(data_root):
            raise FileNotFoundError(f'SyntheticAerialDataset: data_root={data_root!r} is not a '
                                    'folder (give the oriented sample folder)')
        if num_images < 1:
            raise ValueError(f'num_images must be >= 1, got {num_images}')
        unknown = set(kwargs.get('metainfo', {}).get('classes', ())) - set(AERIAL_CLASSES)
        if unknown:
            raise ValueError(f'metainfo classes must be among {AERIAL_CLASSES}, got '
                             f'{sorted(unknown)}')
        if not 1 <= num_objects[0] <= num_objects[1]:
            raise ValueError(f'num_objects must be (min, max) with 1 <= min <= max, got '
                             f'{num_objects}')
        self.num_images, self.seed, self.img_size = num_images, seed, tuple(img_size)
        self.num_objects, self.max_overlap = tuple(num_objects), max_overlap
        self.point_mode, self.point_scale = point_mode, point_scale
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Draw every layout (boxes, classes, points); pixels come later."""
        from vision_sparse.datasets.oriented.points import point_rng, sample_points
        classes = self.metainfo['classes']
        sources = AerialSources.get(self.data_root)
        data_list = []
        for i in range(self.num_images):
            rng = np.random.default_rng([int(self.seed) & 0xFFFFFFFF, i])
            layout = sample_aerial_layout(sources, rng, self.img_size, self.num_objects,
                                          classes, self.max_overlap)
            boxes, labels = _layout_targets(layout, classes)
            img_id = f'aerial_{self.seed}_{i:05d}'
            points = sample_points(boxes, self.point_mode, self.point_scale,
                                   point_rng(self.seed, img_id))
            instances = [dict(bbox=[float(v) for v in b], bbox_label=int(lab), ignore_flag=0,
                              point=[float(v) for v in p])
                         for b, lab, p in zip(boxes, labels, points)]
            data_list.append(dict(img_id=img_id, img_path=img_id, width=self.img_size[0],
                                  height=self.img_size[1], has_gt_boxes=True,
                                  instances=instances, layout=layout))
        return data_list

    def prepare_data(self, idx: int):
        """Render image ``idx`` and run the pipeline on it."""
        info = self.get_data_info(idx)
        img = render_aerial_layout(AerialSources.get(self.data_root), info.pop('layout'))
        info.update(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        return self.pipeline(info)


def write_dota_folder(out_dir: str, n: int, data_root: str, seed: int = 0,
                      img_size: Tuple[int, int] = (512, 512),
                      num_objects: Tuple[int, int] = (5, 15),
                      classes: Sequence[str] = AERIAL_CLASSES, max_overlap: float = 0.1,
                      point_mode: Optional[str] = None, point_scale: float = 0.1) -> Dict:
    """Write ``n`` synthetic images as a DOTA folder (``images/*.png``, ``labelTxt/*.txt``).

    Load it with ``DOTADataset(data_root=out_dir, metainfo=<returned metainfo>)``, or
    with ``point_dir='points'`` for the point labels alone.

    Args:
        out_dir (str): output folder (created).
        n (int): number of images (``aerial_00000.png`` ...).
        data_root (str): the ``oriented`` sample folder.
        seed, img_size, num_objects, classes, max_overlap: see :func:`make_aerial_image`.
        point_mode (str, optional): also write ``points/*.txt`` point-label files, one
            point per object drawn by this rule (``'center'``, ``'ellipse'``,
            ``'gaussian'``) from ``(seed, image name)``; the same points
            ``DOTADataset(point_seed=seed, point_mode=..., point_scale=...)`` draws.
        point_scale (float): spread of the points (fraction of the box size).

    Returns:
        dict: the metainfo (``classes``, ``angle_agnostic_classes``).
    """
    from vision_sparse.datasets.formats.dota import write_dota_txt
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    for i in range(n):
        sample = make_aerial_image(data_root, seed, i, img_size, num_objects, classes,
                                   max_overlap)
        name = f'aerial_{i:05d}'
        cv2.imwrite(osp.join(out_dir, 'images', name + '.png'), sample['img'])
        polys = rbox2poly(sample['bboxes'].astype(np.float64))
        write_dota_txt(osp.join(out_dir, 'labelTxt', name + '.txt'), polys, sample['names'],
                       decimals=3)
        if point_mode is not None:
            from vision_sparse.datasets.oriented.points import (point_rng, sample_points,
                                                                write_point_txt)
            from vision_sparse.structures.bbox.rotated_boxes import poly2rbox
            boxes = poly2rbox(np.round(polys, 3), pattern='le90')  # as a reader of the folder
            pts = sample_points(boxes, point_mode, point_scale, point_rng(seed, name))
            write_point_txt(osp.join(out_dir, 'points', name + '.txt'), pts, sample['names'],
                            decimals=3)
    return dict(classes=tuple(classes),
                angle_agnostic_classes=tuple(c for c in classes if c in AERIAL_ANGLE_AGNOSTIC))

