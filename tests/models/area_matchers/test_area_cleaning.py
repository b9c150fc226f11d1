"""Area cleaning (split, drop tiny, merge small / slim, de-duplicate) on
hand-made masks with known answers, at two image sizes."""
import numpy as np
import pytest

from vision_sparse.models.area_matchers import clean_areas
from vision_sparse.structures.areas import AreaSet


def _masks(size, boxes_per_mask):
    h, w = size
    m = np.zeros((len(boxes_per_mask), h, w), bool)
    for k, boxes in enumerate(boxes_per_mask):
        for x1, y1, x2, y2 in boxes:
            m[k, y1:y2, x1:x2] = True
    return AreaSet.from_masks(m)


def _layout(scale=1):
    s = scale
    return [
        # two disconnected 100x100 blobs + a 20x20 crumb -> two areas
        [(10 * s, 10 * s, 110 * s, 110 * s), (400 * s, 10 * s, 500 * s, 110 * s),
         (300 * s, 300 * s, 320 * s, 320 * s)],
        # 60x60 (small), centre 61 px from a 80x80 area (< 0.7 * 100): merged
        [(40 * s, 300 * s, 100 * s, 360 * s)],
        [(90 * s, 300 * s, 170 * s, 380 * s)],
        # near-duplicate of the 80x80 area (corners 4 px away): removed
        [(94 * s, 304 * s, 170 * s, 380 * s)],
    ]


@pytest.mark.parametrize('scale', [1, 2])
def test_clean_areas_known_result(scale):
    areas = _masks((480 * scale, 640 * scale), _layout(scale))
    out = clean_areas(areas)
    boxes = sorted(map(tuple, (out.boxes / scale).round().astype(int).tolist()))
    assert boxes == [(10, 10, 110, 110), (40, 300, 170, 380), (400, 10, 500, 110)]
    assert out.masks.shape == (3, 480 * scale, 640 * scale)
    # the merged area's mask holds the small piece and its partner
    merged = int(np.argmin(np.abs(out.boxes[:, 0] - 40 * scale)))
    m = out.masks[merged]
    assert m[300 * scale:360 * scale, 40 * scale:100 * scale].all()
    assert m[310 * scale:370 * scale, 110 * scale:160 * scale].all()
    assert not m[:290 * scale].any()


def test_slim_area_is_merged_and_lonely_small_area_dropped():
    areas = _masks((480, 640), [
        [(150, 200, 250, 300)],          # 100x100 area
        [(100, 300, 300, 320)],          # 200x20 strip (aspect 10) below it
        [(560, 400, 620, 440)],          # small and far from everything
    ])
    out = clean_areas(areas)
    np.testing.assert_allclose(out.boxes, [[100, 200, 300, 320]])


def test_boxes_only_and_empty_inputs():
    areas = AreaSet(np.array([[0, 0, 200, 200], [300, 300, 310, 310]]), (480, 640))
    out = clean_areas(areas)
    assert out.masks is None and len(out) == 1
    assert len(clean_areas(AreaSet.empty((480, 640)))) == 0
    with pytest.raises(ValueError, match='max_aspect'):
        clean_areas(areas, max_aspect=0.5)
