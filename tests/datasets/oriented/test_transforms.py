"""Oriented transforms: safe loading, annotations, resize / flip moving boxes and points
with the image content, packing."""
import cv2
import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from vision_sparse.datasets.oriented import (DOTADataset, SafeLoadImageFromFile,
                                             image_bytes_problem, write_point_txt)
from vision_sparse.structures.bbox import RotatedBoxes, rbox2poly

from .conftest import write_dota

BOX = np.array([80.0, 60.0, 60.0, 20.0, 0.4])
POINT_PIXEL = (95, 66)  # the marked pixel; the point is its centre


def _scene(tmp_path):
    """A 200 x 160 image: the box filled in blue (4x supersampled), the point's pixel in green."""
    big = np.zeros((640, 800), np.uint8)
    cv2.fillPoly(big, [np.round(rbox2poly(BOX * [4, 4, 4, 4, 1]).reshape(4, 2) - 0.5)
                       .astype(np.int32)], 255)
    img = np.zeros((160, 200, 3), np.uint8)
    img[..., 0] = cv2.resize(big, (200, 160), interpolation=cv2.INTER_AREA)
    img[POINT_PIXEL[1] - 1:POINT_PIXEL[1] + 2, POINT_PIXEL[0] - 1:POINT_PIXEL[0] + 2, 1] = 255
    path = tmp_path / 'scene.png'
    cv2.imwrite(str(path), img)
    point = [POINT_PIXEL[0] + 0.5, POINT_PIXEL[1] + 0.5]
    return dict(img_path=str(path), img_id='scene', width=200, height=160, has_gt_boxes=True,
                instances=[dict(bbox=BOX.tolist(), bbox_label=3, ignore_flag=0, point=point)])


def _pipeline(*middle):
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        return Compose([dict(type='SafeLoadImageFromFile'), dict(type='LoadOrientedAnnotations'),
                        *middle, dict(type='PackOrientedDetInputs')])


def _content(packed):
    """Moments of the blue object (area, centroid, long-axis angle), its pixel-mask box, and
    the centroid of the green marker in the packed image."""
    img = packed['inputs'].permute(1, 2, 0).numpy().astype(np.float64)
    cov = img[..., 0] / 255
    ys, xs = np.mgrid[0:img.shape[0], 0:img.shape[1]] + 0.5
    area = cov.sum()
    cx, cy = (xs * cov).sum() / area, (ys * cov).sum() / area
    mxx, myy = ((xs - cx) ** 2 * cov).sum(), ((ys - cy) ** 2 * cov).sum()
    mxy = ((xs - cx) * (ys - cy) * cov).sum()
    axis = 0.5 * np.arctan2(2 * mxy, mxx - myy)
    mask = (cov > 0.5)[None].astype(np.uint8)
    box = RotatedBoxes.from_instance_masks(BitmapMasks(mask, *mask.shape[1:]))
    weight = img[..., 1]
    marker = np.array([(xs * weight).sum(), (ys * weight).sum()]) / weight.sum()
    return dict(area=area, centre=np.array([cx, cy]), axis=axis, box=box), marker


@pytest.mark.parametrize('direction, angle', [(None, 0), ('horizontal', 0), ('vertical', 0),
                                              ('diagonal', 0), (None, 30), ('horizontal', -125)])
def test_box_and_point_follow_the_object(tmp_path, direction, angle):
    info = _scene(tmp_path)
    middle = [dict(type='ResizeOriented', scale=(130, 130))]
    if direction:
        middle.append(dict(type='RandomFlipOriented', prob=1.0, direction=direction))
    if angle:
        middle.append(dict(type='RandomRotateOriented', prob=1.0, angle_range=(angle, angle)))
    packed = _pipeline(*middle)(info)
    sample = packed['data_samples']
    assert tuple(sample.metainfo['img_shape']) == (104, 130)  # keep ratio: 160 x 200 * 0.65
    assert sample.metainfo['flip'] is bool(direction)
    gt_box = sample.gt_instances.bboxes
    gt_pt = sample.gt_instances.points.numpy()[0]
    seen, seen_pt = _content(packed)
    want = gt_box.regularize('le90', width_longer=True).tensor[0].numpy().astype(np.float64)
    assert abs(seen['area'] / (want[2] * want[3]) - 1) < 0.03
    np.testing.assert_allclose(seen['centre'], want[:2], atol=0.1)
    turn = np.rad2deg(np.angle(np.exp(2j * (seen['axis'] - want[4])))) / 2
    assert abs(turn) < 1.0, (seen, want)
    assert RotatedBoxes.overlaps(seen['box'], gt_box)[0, 0] > 0.85
    np.testing.assert_allclose(seen_pt, gt_pt, atol=0.35)
    assert bool(gt_box.find_inside_points(sample.gt_instances.points).all())


def test_rotation_drops_objects_leaving_the_image():
    from vision_sparse.datasets.oriented import RandomRotateOriented
    img = np.zeros((100, 200, 3), np.uint8)
    res = dict(img=img, gt_bboxes=RotatedBoxes(np.array([[100.0, 50, 10, 4, 0], [195, 50, 6, 4, 0]],
                                                        np.float32)),
               gt_bboxes_labels=np.array([0, 1]), gt_ignore_flags=np.array([False, True]),
               gt_points=np.array([[101.0, 50], [195, 50]], np.float32))
    out = RandomRotateOriented(prob=1.0, angle_range=(90, 90))(res)
    assert out['rotate_angle'] == 90 and out['gt_bboxes_labels'].tolist() == [0]
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(), [[100, 50, 10, 4, -np.pi / 2]],
                               atol=1e-5)
    np.testing.assert_allclose(out['gt_points'], [[100, 51]], atol=1e-5)
    # an image holding a box-ambiguous class turns by quarter turns only
    res = dict(img=img, gt_bboxes_labels=np.array([4]), gt_points=np.array([[100.0, 50.0]]))
    for _ in range(5):
        angle = RandomRotateOriented(prob=1.0, rect_classes=[4])(dict(res))['rotate_angle']
        assert angle in (-90, 90, 180)
    with pytest.raises(ValueError, match='angle_range'):
        RandomRotateOriented(angle_range=(10, -10))


def test_packed_fields(tmp_path):
    info = _scene(tmp_path)
    info['instances'].append(dict(bbox=[20, 20, 10, 6, 0.0], bbox_label=1, ignore_flag=1,
                                  point=[20, 21]))
    packed = _pipeline()(info)
    assert packed['inputs'].dtype == torch.uint8 and packed['inputs'].shape == (3, 160, 200)
    sample = packed['data_samples']
    gt, ign = sample.gt_instances, sample.ignored_instances
    assert set(gt.keys()) == {'bboxes', 'labels', 'points'} == set(ign.keys())
    assert isinstance(gt.bboxes, RotatedBoxes) and gt.labels.dtype == torch.int64
    assert gt.points.dtype == torch.float32 and gt.points.shape == (1, 2)
    assert ign.labels.tolist() == [1] and ign.points.tolist() == [[20.0, 21.0]]
    meta = sample.metainfo
    assert meta['has_gt_boxes'] is True and meta['scale_factor'] == (1.0, 1.0)
    assert {'img_id', 'img_path', 'ori_shape', 'img_shape', 'flip'} <= set(meta)


def test_point_only_samples_pack_no_boxes(tmp_path):
    root = write_dota(tmp_path, 'a', [])
    write_point_txt(root / 'points' / 'a.txt', [[20, 15]], ['ship'])
    ds = DOTADataset(data_root=str(root), point_dir='points', pipeline=[
        dict(type='vision_sparse.SafeLoadImageFromFile'),
        dict(type='vision_sparse.LoadOrientedAnnotations'),
        dict(type='vision_sparse.ResizeOriented', scale=(32, 32)),
        dict(type='vision_sparse.RandomFlipOriented', prob=1.0),
        dict(type='vision_sparse.PackOrientedDetInputs')])
    sample = ds[0]['data_samples']
    assert sample.metainfo['has_gt_boxes'] is False and 'bboxes' not in sample.gt_instances
    np.testing.assert_allclose(sample.gt_instances.points.numpy(), [[32 - 10, 7.5]])


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def test_truncated_images_are_skipped(tmp_path, mm_log):
    root = write_dota(tmp_path, 'good', ['10 10 30 10 30 20 10 20 ship 0'],
                      image=np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8))
    write_dota(root, 'trunc', ['10 10 30 10 30 20 10 20 ship 0'],
               image=np.random.default_rng(1).integers(0, 255, (48, 64, 3), np.uint8))
    _truncate(root / 'images' / 'trunc.png')
    pipeline = [dict(type='vision_sparse.SafeLoadImageFromFile'),
                dict(type='vision_sparse.LoadOrientedAnnotations'),
                dict(type='vision_sparse.PackOrientedDetInputs')]
    ds = DOTADataset(data_root=str(root), pipeline=pipeline)
    assert [ds.get_data_info(i)['img_id'] for i in range(2)] == ['good', 'trunc']
    assert ds.prepare_data(1) is None
    assert any('trunc.png: truncated PNG' in m and m.startswith('WARNING') for m in mm_log)
    # mmengine's BaseDataset draws another sample when the pipeline gives None
    for _ in range(3):
        assert ds[1]['data_samples'].img_id == 'good'
    with pytest.raises(Exception, match='should not get `None`'):
        DOTADataset(data_root=str(root), pipeline=pipeline, test_mode=True)[1]


def test_image_bytes_checks(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8)
    ok_png = cv2.imencode('.png', img)[1].tobytes()
    ok_jpg = cv2.imencode('.jpg', img)[1].tobytes()
    assert image_bytes_problem(ok_png) == '' and image_bytes_problem(ok_jpg) == ''
    assert 'truncated PNG' in image_bytes_problem(ok_png[:len(ok_png) // 2])
    assert 'truncated JPEG' in image_bytes_problem(ok_jpg[:len(ok_jpg) // 2])
    assert image_bytes_problem(b'') == 'the file is empty'
    path = tmp_path / 'x.jpg'
    path.write_bytes(ok_jpg[:len(ok_jpg) * 2 // 3])
    assert SafeLoadImageFromFile()(dict(img_path=str(path))) is None
    path.write_bytes(ok_jpg)
    assert SafeLoadImageFromFile()(dict(img_path=str(path), width=41, height=40)) is None
    assert SafeLoadImageFromFile()(dict(img_path=str(path)))['img'].shape == (40, 40, 3)
    assert SafeLoadImageFromFile()(dict(img_path=str(tmp_path / 'missing.png'))) is None
