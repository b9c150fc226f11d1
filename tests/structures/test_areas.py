"""AreaSet and the box helpers: exact values on hand-made boxes and masks."""
import numpy as np
import pytest

from vision_sparse.structures.areas import (AreaSet, box_area, box_iou,
                                            box_overlap, box_union,
                                            boxes_from_masks, clip_boxes,
                                            expand_box, square_box)


def test_box_iou_and_overlap_exact():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0, 1.0]])
    np.testing.assert_allclose(box_overlap(a, b), [[0.5, 0.0, 1.0]])
    # two boxes 4 px apart overlap once dilated by more than 2 px per side
    c, d = np.array([[0, 0, 10, 10]]), np.array([[14, 0, 24, 10]])
    assert box_overlap(c, d)[0, 0] == 0
    assert box_overlap(c, d, dilate=2)[0, 0] == 0  # touching only
    assert box_overlap(c, d, dilate=3)[0, 0] == pytest.approx(2 * 16 / 100)
    np.testing.assert_allclose(box_area(b), [100, 100, 100])
    np.testing.assert_allclose(box_union(b), [0, 0, 30, 30])


def test_square_and_expand_boxes_stay_inside():
    size = (100, 200)  # H, W
    sq = square_box([[150, 10, 190, 30]], 1.2, size)[0]
    assert sq[2] - sq[0] == pytest.approx(48) and sq[3] - sq[1] == pytest.approx(48)
    assert sq[0] >= 0 and sq[2] <= 200 and sq[1] >= 0 and sq[3] <= 100
    big = square_box([[0, 0, 200, 100]], 1.2, size)[0]  # larger than the image: clipped
    np.testing.assert_allclose(big, [0, 0, 200, 100])
    ex = expand_box([[40, 40, 60, 50]], 2.0, size)[0]
    np.testing.assert_allclose(ex, [30, 35, 70, 55])
    np.testing.assert_allclose(clip_boxes([[-5, -5, 250, 120]], size)[0], [0, 0, 200, 100])


def test_boxes_from_masks_exclusive_corner():
    m = np.zeros((2, 20, 30), bool)
    m[0, 3:7, 5:9] = True
    np.testing.assert_allclose(boxes_from_masks(m), [[5, 3, 9, 7], [0, 0, 0, 0]])


def test_areaset_validation_errors():
    with pytest.raises(ValueError, match='boxes'):
        AreaSet(np.zeros((2, 3)), (10, 10))
    with pytest.raises(ValueError, match='scores'):
        AreaSet(np.zeros((2, 4)), (10, 10), scores=[0.5, 1.5])
    with pytest.raises(ValueError, match='masks'):
        AreaSet(np.zeros((1, 4)), (10, 10), masks=np.zeros((1, 10, 11), bool))
    with pytest.raises(ValueError, match='image_size'):
        AreaSet(np.zeros((0, 4)), (0, 10))
    with pytest.raises(ValueError, match='x2 >= x1'):
        AreaSet([[5, 0, 1, 3]], (10, 10))


def test_areaset_from_label_map_roundtrip_and_indexing():
    lab = np.zeros((40, 60), np.int32)
    lab[5:15, 10:30] = 3
    lab[20:38, 40:55] = 7
    areas = AreaSet.from_label_map(lab)
    assert len(areas) == 2 and areas.masks.shape == (2, 40, 60)
    np.testing.assert_allclose(areas.boxes, [[10, 5, 30, 15], [40, 20, 55, 38]])
    np.testing.assert_allclose(areas.mask_areas, [200, 270])
    back = areas.to_label_map()
    assert ((back > 0) == (lab > 0)).all()
    sub = areas[np.array([False, True])]
    assert len(sub) == 1 and sub.boxes[0, 0] == 40
    assert len(areas[1]) == 1 and len(areas[:1]) == 1
    both = AreaSet.cat([areas, sub])
    assert len(both) == 3 and both.masks.shape[0] == 3
    empty = AreaSet.from_label_map(np.zeros((8, 9), np.uint8))
    assert len(empty) == 0 and empty.masks.shape == (0, 8, 9)
    with pytest.raises(ValueError, match='integer'):
        AreaSet.from_label_map(np.zeros((4, 4), np.float32))


def test_areaset_from_sam_records_uses_segmentation():
    seg = np.zeros((30, 40), bool)
    seg[2:12, 4:20] = True
    rec = dict(segmentation=seg, bbox=[0, 0, 1, 1], area=160, predicted_iou=0.9)
    areas = AreaSet.from_sam_records([rec])
    np.testing.assert_allclose(areas.boxes, [[4, 2, 20, 12]])
    assert areas.scores[0] == pytest.approx(0.9)
    with pytest.raises(ValueError, match='segmentation'):
        AreaSet.from_sam_records([dict(bbox=[0, 0, 1, 1])])
    with pytest.raises(ValueError, match='image_size'):
        AreaSet.from_sam_records([])
    assert len(AreaSet.from_sam_records([], (5, 6))) == 0


def test_areaset_rescale_boxes_and_masks():
    lab = np.zeros((40, 60), np.int32)
    lab[10:20, 12:24] = 1
    areas = AreaSet.from_label_map(lab)
    big = areas.rescale((80, 120))
    np.testing.assert_allclose(big.boxes, [[24, 20, 48, 40]])
    assert big.masks.shape == (1, 80, 120) and big.masks.sum() == 4 * lab.sum()
    np.testing.assert_allclose(big.centers, [[36, 30]])
    np.testing.assert_allclose(big.wh, [[24, 20]])
