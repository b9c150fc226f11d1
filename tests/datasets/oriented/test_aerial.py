"""Synthetic aerial images made from the real samples: exact boxes, determinism, datasets."""
import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks

from vision_sparse.datasets.oriented import DOTADataset
from vision_sparse.datasets.synthetic import (AERIAL_ANGLE_AGNOSTIC, AERIAL_CLASSES,
                                              SyntheticAerialDataset, make_aerial_image,
                                              write_dota_folder)
from vision_sparse.ops import box_iou_rotated
from vision_sparse.registry import DATASETS
from vision_sparse.structures.bbox import RotatedBoxes


@pytest.fixture(scope='module')
def samples(oriented_root):
    return [make_aerial_image(str(oriented_root), seed=3, index=i, return_masks=True)
            for i in range(6)]


def test_boxes_are_exact(samples):
    checked = 0
    for s in samples:
        h, w = s['img'].shape[:2]
        assert s['img'].dtype == np.uint8 and s['img'].shape == (512, 512, 3)
        assert len(s['bboxes']) == len(s['labels']) == len(s['masks']) >= 3
        corners = RotatedBoxes(s['bboxes']).corners
        assert float(corners.min()) >= 0 and float(corners[..., 0].max()) <= w
        assert float(corners[..., 1].max()) <= h
        for box, name, alpha in zip(s['bboxes'].astype(np.float64), s['names'], s['masks']):
            ys, xs = np.mgrid[0:h, 0:w] + 0.5
            area = alpha.sum()
            round_obj = name in AERIAL_ANGLE_AGNOSTIC
            expected = np.pi * box[2] ** 2 / 4 if round_obj else box[2] * box[3]
            assert abs(area / expected - 1) < 0.02, (name, area, expected)
            np.testing.assert_allclose([(xs * alpha).sum() / area, (ys * alpha).sum() / area],
                                       box[:2], atol=0.1)
            # the pasted mask's minimum-area rectangle is the box (within the pixel grid)
            seen = RotatedBoxes.from_instance_masks(
                BitmapMasks((alpha >= 0.5)[None].astype(np.uint8), h, w))
            seen_t = seen.regularize('le90', width_longer=True).tensor[0].numpy()
            want = RotatedBoxes(box[None]).regularize('le90', width_longer=True).tensor[0].numpy()
            np.testing.assert_allclose(seen_t[:2], want[:2], atol=0.6)
            np.testing.assert_allclose(seen_t[2:4], want[2:4], atol=1.6)
            if round_obj:
                assert box[2] == box[3] and box[4] == 0
            elif want[2] >= 30 and want[2] / want[3] > 1.5:
                diff = np.rad2deg(np.angle(np.exp(2j * (seen_t[4] - want[4])))) / 2
                assert abs(diff) < 3, (name, seen_t, want)
                checked += 1
    assert checked >= 5


def test_classes_aspects_and_overlaps(samples):
    names = [n for s in samples for n in s['names']]
    assert set(names) == set(AERIAL_CLASSES)
    boxes = np.concatenate([s['bboxes'] for s in samples])
    long_side, short = np.maximum(boxes[:, 2], boxes[:, 3]), np.minimum(boxes[:, 2], boxes[:, 3])
    aspect = long_side / short
    by = {c: aspect[[n == c for n in names]] for c in AERIAL_CLASSES}
    assert (by['storage-tank'] == 1).all()
    assert (by['large-vehicle'] >= 4 - 1e-3).all() and (by['large-vehicle'] <= 6 + 1e-3).all()
    assert aspect.min() < 1.5 and aspect.max() > 4.5  # from ~1 to ~6
    assert ((boxes[:, 4] >= -np.pi / 2) & (boxes[:, 4] < np.pi / 2)).all()
    for s in samples:
        b = torch.from_numpy(s['bboxes'])
        iof = box_iou_rotated(b, b, mode='iof')
        iof.fill_diagonal_(0)
        assert float(iof.max()) <= 0.1 + 1e-4


def test_determinism(oriented_root, samples):
    again = make_aerial_image(str(oriented_root), seed=3, index=1)
    np.testing.assert_array_equal(again['img'], samples[1]['img'])
    np.testing.assert_array_equal(again['bboxes'], samples[1]['bboxes'])
    other = make_aerial_image(str(oriented_root), seed=4, index=1)
    assert other['img'].shape == again['img'].shape and not np.array_equal(other['img'],
                                                                            again['img'])
    small = make_aerial_image(str(oriented_root), seed=0, index=0, img_size=(300, 200),
                              num_objects=(2, 2), classes=('ship', 'storage-tank'))
    assert small['img'].shape == (200, 300, 3) and len(small['bboxes']) <= 2
    assert set(small['names']) <= {'ship', 'storage-tank'}
    with pytest.raises(ValueError, match='classes must be among'):
        make_aerial_image(str(oriented_root), classes=('bus', ))


def test_dota_folder_round_trip(oriented_root, tmp_path):
    meta = write_dota_folder(str(tmp_path), 2, str(oriented_root), seed=3)
    assert meta == dict(classes=AERIAL_CLASSES, angle_agnostic_classes=('storage-tank', ))
    ds = DOTADataset(data_root=str(tmp_path), metainfo=meta)
    assert len(ds) == 2 and ds.skipped == []
    for i in range(2):
        ref = make_aerial_image(str(oriented_root), seed=3, index=i)
        inst = ds.get_data_info(i)['instances']
        got = torch.tensor([x['bbox'] for x in inst])
        iou = box_iou_rotated(got, torch.from_numpy(ref['bboxes']), aligned=True)
        assert float(iou.min()) > 0.999
        assert [x['bbox_label'] for x in inst] == ref['labels'].tolist()
    # with point files: the points a box-labelled reader draws, readable without boxes
    write_dota_folder(str(tmp_path / 'pts'), 1, str(oriented_root), seed=3,
                      point_mode='gaussian', point_scale=0.15)
    boxed = DOTADataset(data_root=str(tmp_path / 'pts'), metainfo=meta, point_seed=3,
                        point_mode='gaussian', point_scale=0.15)
    points = DOTADataset(data_root=str(tmp_path / 'pts'), metainfo=meta, point_dir='points')
    a, b = boxed.get_data_info(0)['instances'], points.get_data_info(0)['instances']
    np.testing.assert_allclose([x['point'] for x in a], [x['point'] for x in b], atol=1e-3)
    assert [x['bbox_label'] for x in a] == [x['bbox_label'] for x in b]
    assert points.get_data_info(0)['has_gt_boxes'] is False


def test_synthetic_dataset(oriented_root):
    ds = DATASETS.build(dict(
        type='SyntheticAerialDataset', data_root=str(oriented_root), num_images=2, seed=3,
        pipeline=[dict(type='vision_sparse.LoadOrientedAnnotations'),
                  dict(type='vision_sparse.RandomFlipOriented', prob=0.0),
                  dict(type='vision_sparse.PackOrientedDetInputs')]))
    assert ds.metainfo['angle_agnostic_classes'] == ('storage-tank', ) and len(ds) == 2
    out = ds[1]
    ref = make_aerial_image(str(oriented_root), seed=3, index=1)
    np.testing.assert_array_equal(out['inputs'].permute(1, 2, 0).numpy(), ref['img'])
    gt = out['data_samples'].gt_instances
    np.testing.assert_allclose(gt.bboxes.tensor.numpy(), ref['bboxes'], atol=1e-5)
    assert bool(gt.bboxes.find_inside_points(gt.points, is_aligned=True).all())
    assert out['data_samples'].metainfo['img_id'] == 'aerial_3_00001'
    with pytest.raises(FileNotFoundError, match='data_root'):
        SyntheticAerialDataset(data_root='')
    with pytest.raises(ValueError, match='metainfo classes'):
        SyntheticAerialDataset(data_root=str(oriented_root), metainfo=dict(classes=('bus', )))
