"""SAM-free segmentation: graph-based / SLIC superpixels and their hierarchy.

Written with numpy, scipy and OpenCV only (no scikit-image):

* :func:`felzenszwalb` - Felzenszwalb & Huttenlocher graph-based segmentation
  (4-connected grid, Euclidean RGB edge weights, ``Int(C) + k / |C|`` merge
  criterion, then a minimum-size pass);
* :func:`slic` - SLIC superpixels (local k-means in Lab + position, each pixel
  compared with the centres of its own and the 8 neighbouring grid cells),
  then connectivity enforcement;
* :func:`merge_hierarchy` - greedy region merging in the manner of selective
  search (colour-histogram + size + fill similarity of adjacent regions);
  snapshots of the partition at several region counts give nested areas at
  several scales, which is what an Area Graph needs.
"""
from typing import List, Sequence

import cv2
import numpy as np
from scipy import ndimage

__all__ = ['felzenszwalb', 'slic', 'merge_hierarchy', 'absorb_small_regions']


def _grid_edges(h: int, w: int):
    idx = np.arange(h * w).reshape(h, w)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return a, b


def felzenszwalb(image: np.ndarray, scale: float = 300.0, sigma: float = 0.8,
                 min_size: int = 50) -> np.ndarray:
    """Graph-based segmentation.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        scale (float): the ``k`` of the paper; larger gives larger segments.
        sigma (float): Gaussian pre-smoothing, px (0 = none).
        min_size (int): segments smaller than this (px) are merged away.

    Returns:
        np.ndarray: ``(H, W)`` int32 labels ``0..n-1`` (connected segments).
    """
    h, w = image.shape[:2]
    img = image.astype(np.float32)
    if sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    flat = img.reshape(-1, img.shape[2] if img.ndim == 3 else 1)
    a, b = _grid_edges(h, w)
    wts = np.linalg.norm(flat[a] - flat[b], axis=1)
    order = np.argsort(wts, kind='stable')
    a, b, wts = a[order].tolist(), b[order].tolist(), wts[order].tolist()
    n = h * w
    parent = list(range(n))
    size = [1] * n
    thresh = [float(scale)] * n

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for ea, eb, wt in zip(a, b, wts):
        ra, rb = find(ea), find(eb)
        if ra != rb and wt <= thresh[ra] and wt <= thresh[rb]:
            if size[ra] < size[rb]:
                ra, rb = rb, ra
            parent[rb] = ra
            size[ra] += size[rb]
            thresh[ra] = wt + scale / size[ra]
    par = np.asarray(parent)
    while True:  # pointer jumping to the roots, vectorised
        nxt = par[par]
        if np.array_equal(nxt, par):
            break
        par = nxt
    _, labels = np.unique(par, return_inverse=True)
    return absorb_small_regions(labels.reshape(h, w), min_size)


def absorb_small_regions(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Split labels into connected pieces, give pieces smaller than
    ``min_size`` px the label of the nearest large piece, and relabel
    ``0..n-1``."""
    pieces = np.zeros(labels.shape, np.int32)
    nxt = 0
    for lab in np.unique(labels):
        comp, k = ndimage.label(labels == lab)
        sel = comp > 0
        pieces[sel] = comp[sel] + nxt - 1
        nxt += k
    sizes = np.bincount(pieces.ravel())
    small = sizes[pieces] < min_size
    if small.all():
        return np.zeros(labels.shape, np.int32)
    if small.any():
        _, (iy, ix) = ndimage.distance_transform_edt(small, return_indices=True)
        pieces = pieces[iy, ix]
    _, out = np.unique(pieces, return_inverse=True)
    return out.reshape(labels.shape).astype(np.int32)


def slic(image: np.ndarray, n_segments: int = 200, compactness: float = 10.0,
         iters: int = 6, min_size: int = 20) -> np.ndarray:
    """SLIC superpixels.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        n_segments (int): approximate number of superpixels.
        compactness (float): weight of position against Lab colour.
        iters (int): k-means iterations.
        min_size (int): pieces smaller than this (px) join a neighbour.

    Returns:
        np.ndarray: ``(H, W)`` int32 labels ``0..n-1`` (connected).
    """
    h, w = image.shape[:2]
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    step = np.sqrt(h * w / max(int(n_segments), 1))
    gy, gx = max(1, int(round(h / step))), max(1, int(round(w / step)))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ci = np.minimum((ys * gy / h).astype(np.int64), gy - 1)
    cj = np.minimum((xs * gx / w).astype(np.int64), gx - 1)
    cy = ((np.arange(gy) + 0.5) * h / gy)[:, None].repeat(gx, 1).ravel()
    cx = ((np.arange(gx) + 0.5) * w / gx)[None, :].repeat(gy, 0).ravel()
    ccol = lab[cy.astype(int), cx.astype(int)].astype(np.float64)
    k_all = gy * gx
    m2 = (compactness / step) ** 2
    labels = (ci * gx + cj)
    for _ in range(iters):
        best = np.full((h, w), np.inf, np.float32)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                ni, nj = ci + di, cj + dj
                ok = (ni >= 0) & (ni < gy) & (nj >= 0) & (nj < gx)
                k = np.where(ok, ni * gx + nj, 0)
                d = ((lab - ccol[k].astype(np.float32)) ** 2).sum(-1) + m2 * (
                    (ys - cy[k]) ** 2 + (xs - cx[k]) ** 2)
                d = np.where(ok, d, np.inf)
                better = d < best
                best = np.where(better, d, best)
                labels = np.where(better, k, labels)
        flat = labels.ravel()
        cnt = np.bincount(flat, minlength=k_all).astype(np.float64)
        has = cnt > 0
        for c in range(3):
            s = np.bincount(flat, lab[..., c].ravel(), minlength=k_all)
            ccol[has, c] = s[has] / cnt[has]
        cy[has] = np.bincount(flat, ys.ravel(), minlength=k_all)[has] / cnt[has]
        cx[has] = np.bincount(flat, xs.ravel(), minlength=k_all)[has] / cnt[has]
    return absorb_small_regions(labels, min_size)


def merge_hierarchy(image: np.ndarray, labels: np.ndarray,
                    snapshot_sizes: Sequence[int] = (32, 16, 8, 4),
                    bins: int = 25) -> List[np.ndarray]:
    """Greedy hierarchical merging of adjacent regions.

    Similarity of two adjacent regions ``i, j`` (each term in ``[0, 1]``):
    colour-histogram intersection in Lab (``bins`` per channel) + size term
    ``1 - (|i| + |j|) / N`` + fill term ``1 - (|box(i u j)| - |i| - |j|) / N``
    (``N`` = image pixels). The most similar pair is merged until
    ``min(snapshot_sizes)`` regions are left.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        labels (np.ndarray): ``(H, W)`` int labels ``0..n-1``.
        snapshot_sizes (Sequence[int]): region counts at which the partition
            is recorded.
        bins (int): histogram bins per Lab channel.

    Returns:
        list[np.ndarray]: distinct regions of all snapshots, each the array of
        initial labels it is made of (every snapshot is a partition of the
        image, so regions of different snapshots nest or are disjoint).
    """
    h, w = labels.shape
    n = int(labels.max()) + 1
    total = float(h * w)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    flat = labels.ravel().astype(np.int64)
    sizes = np.bincount(flat, minlength=n).astype(np.float64)
    hist = np.concatenate([
        np.bincount(flat * bins + (lab[..., c].ravel().astype(np.int64) * bins
                                   // 256), minlength=n * bins).reshape(n, bins)
        for c in range(3)], 1).astype(np.float64)
    hist /= np.maximum(hist.sum(1, keepdims=True), 1)
    boxes = np.zeros((n, 4))
    for i, sl in enumerate(ndimage.find_objects(labels + 1)):
        if sl is not None:
            boxes[i] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
    pa = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    pb = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    diff = pa != pb
    pairs = np.unique(np.sort(np.stack([pa[diff], pb[diff]], 1), 1), axis=0)

    regions = {i: dict(size=sizes[i], hist=hist[i], box=boxes[i], members=[i])
               for i in range(n)}
    nbrs = {i: set() for i in range(n)}
    for i, j in pairs.tolist():
        nbrs[i].add(j)
        nbrs[j].add(i)

    def sim(i, j):
        ri, rj = regions[i], regions[j]
        bi, bj = ri['box'], rj['box']
        ub = (max(bi[2], bj[2]) - min(bi[0], bj[0])) * (
            max(bi[3], bj[3]) - min(bi[1], bj[1]))
        return (np.minimum(ri['hist'], rj['hist']).sum()
                + 1 - (ri['size'] + rj['size']) / total
                + 1 - (ub - ri['size'] - rj['size']) / total)

    edges = {(i, j): sim(i, j) for i, j in pairs.tolist()}
    wanted = sorted(set(int(s) for s in snapshot_sizes if s >= 1), reverse=True)
    snaps, seen = [], set()

    def record():
        for rid in regions:
            key = frozenset(regions[rid]['members'])
            if key not in seen:
                seen.add(key)
                snaps.append(np.array(sorted(key)))

    while wanted and len(regions) <= wanted[0]:
        record()
        wanted.pop(0)
    nid = n
    while wanted and edges:
        i, j = max(edges, key=edges.get)
        ri, rj = regions.pop(i), regions.pop(j)
        s = ri['size'] + rj['size']
        regions[nid] = dict(
            size=s, hist=(ri['hist'] * ri['size'] + rj['hist'] * rj['size']) / s,
            box=np.concatenate([np.minimum(ri['box'][:2], rj['box'][:2]),
                                np.maximum(ri['box'][2:], rj['box'][2:])]),
            members=ri['members'] + rj['members'])
        new_nb = (nbrs.pop(i) | nbrs.pop(j)) - {i, j}
        for t in new_nb:
            nbrs[t] -= {i, j}
            nbrs[t].add(nid)
            edges.pop((min(i, t), max(i, t)), None)
            edges.pop((min(j, t), max(j, t)), None)
        edges.pop((min(i, j), max(i, j)), None)
        nbrs[nid] = new_nb
        for t in new_nb:
            edges[(t, nid)] = sim(t, nid)
        nid += 1
        while wanted and len(regions) <= wanted[0]:
            record()
            wanted.pop(0)
    if wanted:  # disconnected leftovers: record what is there
        record()
    return snaps
