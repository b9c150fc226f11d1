"""The Area Graph (AG) of the MESA paper: areas organised by size and nesting.

Nodes are area boxes at *levels* set by size: with the official steps
``(560, 390, 256, 130)`` px at 640x480 (scaled with the image), a box of area
``a`` has level 1 if ``a >= 390^2``, 2 if ``a >= 256^2``, 3 if ``a >= 130^2``,
else 4; level 0 is the root (the whole image). Edges:

* **parent -> child**: the (slightly dilated) parent box covers at least
  ``overlap_thresh`` (0.8) of the child box and is larger. Stored densely
  (``parent[i, j]``: ``i`` is an ancestor of ``j``), as the official code does.
* **neighbour**: dilated boxes intersect but neither contains the other.

Construction:

1. areas are added from large to small; one that duplicates an existing node
   (mutual covering >= ``overlap_thresh``) is skipped;
2. *same-level parents*: a parent with the same level as its child is copied
   one level up (box enlarged to the upper level's size, aspect kept);
3. *missing parents*, bottom-up from the deepest level to 2: nodes without an
   ancestor on the level just above are grouped (single link, box gap below
   ``cluster_gap``); a group gets a common parent (the union box), a lone node a
   level-up copy of itself;
4. a root node (the whole image) is added as the ancestor of all;
5. every node gets a square crop box, ``expand_ratio`` (1.2) x its longer
   side, moved inside the image.

Where we differ from the official code (see ``docs/a2pm.md``): grouping is
single-link by box gap instead of k-means with an elbow rule; neighbour edges
exist in every build (the official "efficient" build never sets them).
"""
from typing import Dict, List, Tuple

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from vision_sparse.structures.areas import (AreaSet, box_area, box_iou,
                                            box_overlap, square_box)
from vision_sparse.utils.config import merge_conf

from .area_cleaning import size_scale

__all__ = ['AreaGraph']

KINDS = ('area', 'level_up', 'cluster', 'root')


class AreaGraph:
    """Area Graph of one image (build with :meth:`build`).

    Attributes:
        boxes (np.ndarray): ``(N, 4)`` node boxes xyxy px.
        levels (np.ndarray): ``(N,)`` int levels (0 = root, larger = smaller).
        kinds (list[str]): per node ``'area'`` (an input area),
            ``'level_up'`` / ``'cluster'`` (created parents) or ``'root'``.
        source_index (np.ndarray): ``(N,)`` index into the input AreaSet, -1
            for created nodes.
        parent (np.ndarray): ``(N, N)`` bool, ``parent[i, j]``: ``i`` is an
            ancestor of ``j``.
        neighbour (np.ndarray): ``(N, N)`` bool, symmetric.
        expanded (np.ndarray): ``(N, 4)`` square crop boxes xyxy px.
        image_size (tuple): ``(H, W)``.
        root (int): index of the root node (always the last).
        num_levels (int): deepest level (``len(level_steps)``).
    """

    default_conf: Dict = dict(
        level_steps=(560.0, 390.0, 256.0, 130.0),
        ref_size=(480, 640),
        overlap_thresh=0.8,
        dilation=10.0,
        cluster_gap=100.0,
        expand_ratio=1.2,
    )

    def __init__(self, boxes, levels, kinds, source_index, image_size,
                 conf: Dict):
        self.boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self.levels = np.asarray(levels, np.int64)
        self.kinds = list(kinds)
        self.source_index = np.asarray(source_index, np.int64)
        self.image_size = tuple(image_size)
        self.conf = conf
        self.num_levels = len(conf['level_steps'])
        self.root = len(self.boxes) - 1
        self._relations()
        self.expanded = square_box(self.boxes, conf['expand_ratio'],
                                   self.image_size)
        h, w = self.image_size
        self.expanded[self.root] = (0, 0, w, h)

    # ------------------------------------------------------------- building
    @classmethod
    def build(cls, areas: AreaSet, **conf) -> 'AreaGraph':
        """Build the graph of one image's areas.

        Args:
            areas (AreaSet): cleaned areas (boxes are used; may be empty).
            **conf: overrides of :attr:`default_conf`:
                ``level_steps`` (square sides px at ``ref_size``, decreasing),
                ``ref_size`` ``(H, W)``, ``overlap_thresh``, ``dilation`` (px at
                ``ref_size``), ``cluster_gap`` (px at ``ref_size``),
                ``expand_ratio``.

        Returns:
            AreaGraph: at least the root node.
        """
        conf = merge_conf(cls.default_conf, conf, cls.__name__)
        steps = np.asarray(conf['level_steps'], np.float64)
        if steps.ndim != 1 or len(steps) < 2 or (np.diff(steps) >= 0).any() \
                or steps.min() <= 0:
            raise ValueError('level_steps must be >= 2 positive, strictly '
                             f'decreasing sizes, got {conf["level_steps"]}')
        if not 0 < conf['overlap_thresh'] <= 1:
            raise ValueError('overlap_thresh must be in (0, 1], '
                             f'got {conf["overlap_thresh"]}')
        builder = _Builder(areas, conf)
        return cls(*builder.run(), conf)

    # ------------------------------------------------------------ relations
    def _relations(self) -> None:
        s = size_scale(self.image_size, self.conf['ref_size'])
        self.parent, self.neighbour = _relations(
            self.boxes, self.conf['overlap_thresh'], self.conf['dilation'] * s)
        self.parent[self.root, :] = True
        self.parent[:, self.root] = False
        self.parent[self.root, self.root] = False
        self.neighbour[self.root, :] = False
        self.neighbour[:, self.root] = False

    def __len__(self) -> int:
        return len(self.boxes)

    def __repr__(self) -> str:
        counts = {int(l): int((self.levels == l).sum())
                  for l in np.unique(self.levels)}
        return f'AreaGraph(nodes={len(self)}, per_level={counts})'

    def parents(self, i: int) -> np.ndarray:
        """Indices of all ancestors of node ``i``."""
        return np.nonzero(self.parent[:, i])[0]

    def children(self, i: int) -> np.ndarray:
        """Indices of all descendants of node ``i``."""
        return np.nonzero(self.parent[i])[0]

    def next_level_children(self, i: int) -> np.ndarray:
        """Descendants of ``i`` exactly one level below it."""
        c = self.children(i)
        return c[self.levels[c] == self.levels[i] + 1]

    def neighbours(self, i: int) -> np.ndarray:
        """Indices of the neighbours of node ``i``."""
        return np.nonzero(self.neighbour[i])[0]

    def nodes_at_level(self, level: int) -> np.ndarray:
        """Indices of the nodes of one level."""
        return np.nonzero(self.levels == level)[0]

    def iou(self) -> np.ndarray:
        """``(N, N)`` box IoU between nodes."""
        return box_iou(self.boxes, self.boxes)


def _relations(boxes: np.ndarray, thresh: float, dil: float
               ) -> Tuple[np.ndarray, np.ndarray]:
    n = len(boxes)
    if n == 0:
        return np.zeros((0, 0), bool), np.zeros((0, 0), bool)
    cov = box_overlap(boxes, boxes, dilate=dil)  # cov[j, i]: part of j in i
    area = box_area(boxes)
    contains = (cov.T >= thresh) & (area[:, None] > area[None, :])
    np.fill_diagonal(contains, False)
    touch = cov > 0
    nb = (touch | touch.T) & ~contains & ~contains.T
    np.fill_diagonal(nb, False)
    return contains, nb


class _Builder:
    """Incremental construction state (lists of boxes/levels/kinds)."""

    def __init__(self, areas: AreaSet, conf: Dict):
        self.conf = conf
        self.h, self.w = areas.image_size
        s = size_scale(areas.image_size, conf['ref_size'])
        self.steps = np.asarray(conf['level_steps'], np.float64) * s
        self.dil = conf['dilation'] * s
        self.gap = conf['cluster_gap'] * s
        self.thresh = conf['overlap_thresh']
        self.areas = areas
        self.boxes: List[np.ndarray] = []
        self.levels: List[int] = []
        self.kinds: List[str] = []
        self.src: List[int] = []

    def level_of(self, box: np.ndarray) -> int:
        a = box_area(box)[0]
        for lvl, st in enumerate(self.steps):
            if a >= st * st:
                return max(lvl, 1)  # level 0 is reserved for the root
        return len(self.steps)

    def _duplicate(self, box: np.ndarray) -> bool:
        if box_area(box)[0] >= self.thresh * self.w * self.h:
            return True  # the root (added last) stands for the whole image
        if not self.boxes:
            return False
        b = np.stack(self.boxes)
        cov_new = box_overlap(box[None], b, self.dil)[0]  # new covered by old
        cov_old = box_overlap(b, box[None], self.dil)[:, 0]
        return bool(((cov_new >= self.thresh) & (cov_old >= self.thresh)).any())

    def add(self, box, level: int, kind: str, src: int = -1) -> bool:
        box = np.asarray(box, np.float64)
        if box[2] - box[0] < 1 or box[3] - box[1] < 1 or self._duplicate(box):
            return False
        self.boxes.append(box)
        self.levels.append(int(level))
        self.kinds.append(kind)
        self.src.append(src)
        return True

    def grow_to(self, box: np.ndarray, level: int) -> np.ndarray:
        """Enlarge a box about its centre to the minimum size of ``level``
        (aspect kept, capped by the image), moved inside the image."""
        target = self.steps[level] ** 2
        w, h = box[2] - box[0], box[3] - box[1]
        r = np.sqrt(target / max(w * h, 1e-6))
        nw, nh = w * max(r, 1.0), h * max(r, 1.0)
        if nw > self.w:
            nw, nh = self.w, min(self.h, target / self.w)
        if nh > self.h:
            nh, nw = self.h, min(self.w, target / self.h)
        nw, nh = max(nw, w), max(nh, h)  # never smaller than the box itself
        c = (box[:2] + box[2:]) / 2
        cx = min(max(c[0], nw / 2), self.w - nw / 2)
        cy = min(max(c[1], nh / 2), self.h - nh / 2)
        return np.array([cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2])

    def relations(self):
        b = np.stack(self.boxes) if self.boxes else np.zeros((0, 4))
        return _relations(b, self.thresh, self.dil)

    def run(self):
        order = np.argsort(-self.areas.box_areas, kind='stable')
        for k in order:
            box = self.areas.boxes[k]
            self.add(box, self.level_of(box), 'area', int(k))
        self._fix_same_level_parents()
        for level in range(len(self.steps), 1, -1):
            self._complete_level(level)
            self._fix_same_level_parents()
        self.boxes.append(np.array([0.0, 0.0, self.w, self.h]))
        self.levels.append(0)
        self.kinds.append('root')
        self.src.append(-1)
        return (np.stack(self.boxes), self.levels, self.kinds, self.src,
                (self.h, self.w))

    def _fix_same_level_parents(self) -> None:
        if not self.boxes:
            return
        parent, _ = self.relations()
        lv = np.asarray(self.levels)
        same = parent & (lv[:, None] == lv[None, :])
        for i in np.unique(np.nonzero(same)[0]):
            if lv[i] <= 1:
                continue  # level-1 containers stay level-1 (their parent is the root)
            up = lv[i] - 1
            self.add(self.grow_to(self.boxes[i], up), up, 'level_up')

    def _complete_level(self, level: int) -> None:
        if not self.boxes:
            return
        parent, _ = self.relations()
        lv = np.asarray(self.levels)
        nodes = np.nonzero(lv == level)[0]
        orphans = [i for i in nodes
                   if not (parent[:, i] & (lv == level - 1)).any()]
        if not orphans:
            return
        b = np.stack([self.boxes[i] for i in orphans])
        gx = np.maximum(0, np.maximum(b[:, None, 0], b[None, :, 0])
                        - np.minimum(b[:, None, 2], b[None, :, 2]))
        gy = np.maximum(0, np.maximum(b[:, None, 1], b[None, :, 1])
                        - np.minimum(b[:, None, 3], b[None, :, 3]))
        link = np.maximum(gx, gy) < self.gap
        groups = _connected_groups(link)
        for g in groups:
            if len(g) == 1:
                box = self.grow_to(b[g[0]], level - 1)
                self.add(box, level - 1, 'level_up')
            else:
                box = np.concatenate([b[g, :2].min(0), b[g, 2:].max(0)])
                if box_area(box)[0] < self.steps[level - 1] ** 2:
                    box = self.grow_to(box, level - 1)
                self.add(box, level - 1, 'cluster')


def _connected_groups(link: np.ndarray) -> List[np.ndarray]:
    """Connected components of a symmetric boolean adjacency matrix, each as its
    sorted node indices, ordered by their smallest node."""
    if len(link) == 0:
        return []
    _, comp = connected_components(csr_matrix(link), directed=False)
    groups = [np.nonzero(comp == c)[0] for c in np.unique(comp)]
    return sorted(groups, key=lambda g: int(g[0]))
