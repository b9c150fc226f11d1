"""Area Graph on a synthetic layout of nested rectangles with a known hierarchy."""
import numpy as np
import pytest

from vision_sparse.models.area_matchers import AreaGraph
from vision_sparse.structures.areas import AreaSet

# 640x480, official steps (560, 390, 256, 130): level 1 >= 390^2, 2 >= 256^2, 3 >= 130^2
LAYOUT = np.array([
    [20, 20, 420, 420],     # A  level 1 (400x400)
    [40, 40, 300, 300],     # B  level 2 inside A
    [60, 60, 200, 200],     # C  level 3 inside B
    [42, 42, 298, 299],     # duplicate of B -> not a node
    [500, 300, 630, 470],   # D  level 3, no level-2 parent -> level-up copy
    [430, 20, 520, 110],    # G  level 4 } close together, no level-3 parent
    [530, 20, 620, 110],    # H  level 4 } -> one cluster parent (union box)
    [210, 60, 300, 150],    # E  level 4 inside B, next to C
])
A, B, C, DUP, D, G, H, E = range(8)


def _node(g, src):
    idx = np.nonzero(g.source_index == src)[0]
    return int(idx[0]) if len(idx) else None


@pytest.mark.parametrize('scale', [1, 2])
def test_area_graph_structure(scale):
    g = AreaGraph.build(AreaSet(LAYOUT * scale, (480 * scale, 640 * scale)))
    n = {k: _node(g, k) for k in range(8)}
    assert n[DUP] is None                       # duplicate skipped
    assert [int(g.levels[n[k]]) for k in (A, B, C, D, G, H, E)] == [1, 2, 3, 3, 4, 4, 4]
    # root: the whole image, ancestor of every node
    assert g.kinds[g.root] == 'root' and g.levels[g.root] == 0
    np.testing.assert_allclose(g.boxes[g.root], [0, 0, 640 * scale, 480 * scale])
    assert g.parent[g.root, :g.root].all()
    # nesting of the input areas
    assert set(g.parents(n[C])) >= {n[A], n[B], g.root}
    assert set(g.children(n[A])) >= {n[B], n[C], n[E]}
    assert n[C] in g.next_level_children(n[B]) and n[E] not in g.next_level_children(n[B])
    assert not g.parent[n[A], n[D]]
    # C and E lie side by side inside B: neighbours, not parent/child
    assert g.neighbour[n[C], n[E]] and g.neighbour[n[E], n[C]]
    # G and H get one created cluster parent at level 3 covering both
    common = set(g.parents(n[G])) & set(g.parents(n[H]))
    cluster = [i for i in common if g.kinds[i] == 'cluster' and g.levels[i] == 3]
    assert len(cluster) == 1
    np.testing.assert_allclose(g.boxes[cluster[0]], np.array([430, 20, 620, 110]) * scale)
    # D gets a level-up copy at level 2 that contains it and is of level-2 size
    ups = [i for i in g.parents(n[D]) if g.kinds[i] == 'level_up' and g.levels[i] == 2]
    assert len(ups) == 1
    b = g.boxes[ups[0]]
    assert (b[2] - b[0]) * (b[3] - b[1]) == pytest.approx((256 * scale) ** 2, rel=1e-6)
    # every node below level 1 has an ancestor exactly one level up
    for i in range(len(g)):
        if g.levels[i] >= 2:
            assert (g.levels[g.parents(i)] == g.levels[i] - 1).any(), i
    # square crop boxes, 1.2 x the longer side, inside the image
    e = g.expanded[n[C]]
    assert e[2] - e[0] == pytest.approx(1.2 * 140 * scale)
    assert e[3] - e[1] == pytest.approx(1.2 * 140 * scale)
    assert (g.expanded[:, :2] >= 0).all() and (g.expanded[:, 2] <= 640 * scale).all()


def test_area_graph_empty_and_bad_options():
    g = AreaGraph.build(AreaSet.empty((100, 200)))
    assert len(g) == 1 and g.root == 0 and g.levels[0] == 0
    with pytest.raises(ValueError, match='level_steps'):
        AreaGraph.build(AreaSet.empty((100, 200)), level_steps=(100, 200))
    with pytest.raises(ValueError, match='unknown'):
        AreaGraph.build(AreaSet.empty((100, 200)), levels=3)
