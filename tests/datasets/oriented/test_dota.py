"""DOTADataset: the real samples, label rescaling, and every kind of bad input."""
import numpy as np
import pytest

from vision_sparse.datasets.formats import load_dota_txt
from vision_sparse.datasets.oriented import DOTA_CLASSES, DOTADataset, write_point_txt
from vision_sparse.registry import DATASETS
from vision_sparse.structures.bbox import RotatedBoxes, poly2rbox

from .conftest import write_dota

SQUARE = '10 10 30 10 30 20 10 20 ship 0'


def _instances(ds, i=0):
    return ds.get_data_info(i)['instances']


def test_real_dota_samples(oriented_root):
    ds = DATASETS.build(dict(type='DOTADataset', data_root=str(oriented_root / 'dota')))
    assert len(ds) == 2 and ds.metainfo['classes'] == DOTA_CLASSES
    assert ds.metainfo['angle_agnostic_classes'] == ('baseball-diamond', 'storage-tank',
                                                     'roundabout')
    for i, name in enumerate(['P0706', 'P1888']):
        info = ds.get_data_info(i)
        ann = load_dota_txt(oriented_root / 'dota' / 'labelTxt' / f'{name}.txt')
        assert info['img_id'] == name and info['has_gt_boxes']
        assert (info['width'], info['height']) == ((1111, 1182), (712, 557))[i]
        inst = info['instances']
        assert len(inst) == len(ann['labels'])  # every object of the real files is usable
        boxes = np.array([x['bbox'] for x in inst])
        np.testing.assert_allclose(boxes, poly2rbox(ann['polys'].astype(np.float64)), atol=1e-4)
        assert (boxes[:, 4] >= -np.pi / 2).all() and (boxes[:, 4] < np.pi / 2).all()
        assert [DOTA_CLASSES[x['bbox_label']] for x in inst] == ann['labels']
        assert [x['ignore_flag'] for x in inst] == ann['difficult'].astype(int).tolist()
        pts = np.array([x['point'] for x in inst], np.float32)
        inside = RotatedBoxes(boxes).find_inside_points(pts, is_aligned=True)
        assert bool(inside.all())
    assert ds.skipped == []
    # the same dataset again draws the same points; another seed others
    again = DOTADataset(data_root=str(oriented_root / 'dota'))
    other = DOTADataset(data_root=str(oriented_root / 'dota'), point_seed=1)
    assert _instances(again) == _instances(ds)
    assert _instances(other)[0]['point'] != _instances(ds)[0]['point']
    centre = DOTADataset(data_root=str(oriented_root / 'dota'), point_mode='center')
    np.testing.assert_allclose([x['point'] for x in _instances(centre)],
                               [x['bbox'][:2] for x in _instances(centre)], atol=1e-4)


def test_labels_made_at_another_size(oriented_root):
    root = str(oriented_root / 'dota_patch')
    with pytest.raises(ValueError, match=r'P2805__1024__0___0.txt: labels span x in \[359, 970\]'
                       r'.* is 170x170 px: labels made at another image size'):
        DOTADataset(data_root=root)  # its only sample is refused: nothing left
    with pytest.raises(ValueError, match='P2805__1024__0___0.txt: labels span'):
        DOTADataset(data_root=root, strict=True)
    scaled = DOTADataset(data_root=root, ann_image_size=1024)
    by_scale = DOTADataset(data_root=root, label_scale=170 / 1024)
    raw = load_dota_txt(oriented_root / 'dota_patch/labelTxt/P2805__1024__0___0.txt')
    boxes = np.array([x['bbox'] for x in _instances(scaled)])
    expected = poly2rbox(raw['polys'].astype(np.float64) * 170 / 1024)
    np.testing.assert_allclose(boxes, expected, atol=1e-4)
    np.testing.assert_allclose(boxes[:, 2:4], raw['rboxes'][:, 2:4] * 170 / 1024, rtol=1e-4)
    assert _instances(by_scale) == _instances(scaled)
    assert [x['bbox_label'] for x in _instances(scaled)] == [0] * 4  # planes
    with pytest.raises(ValueError, match='not both'):
        DOTADataset(data_root=root, ann_image_size=1024, label_scale=0.5)


def test_bad_objects_are_skipped_with_reasons(tmp_path, mm_log):
    lines = [SQUARE,
             '10 10 30 10 30 20 10 20 spaceship 0',  # unknown class
             '10 10 30 10 30 10 10 10 ship 0',  # degenerate (zero area)
             '10 10 30 20 30 10 10 20 ship 0',  # self-intersecting (bow tie)
             '10 10 30 10 nan 20 10 20 ship 0',  # NaN
             '70 10 75 10 75 15 70 15 ship 0',  # centre outside the 64 x 48 image
             '1 2 3',  # malformed
             '40 30 50 30 50 40 40 40 ship 1']
    root = write_dota(tmp_path, 'bad', lines)
    ds = DOTADataset(data_root=str(root))
    logged = '\n'.join(mm_log)
    inst = _instances(ds)
    assert len(inst) == 2 and [x['ignore_flag'] for x in inst] == [0, 1]
    reasons = [r for _, r in ds.skipped]
    for expected in ["unknown class 'spaceship'", 'degenerate polygon', 'self-intersecting',
                     'non-finite coordinate', 'box centre (72.5, 12.5) outside the 64x48 image',
                     'expected "x1 y1']:
        assert any(expected in r for r in reasons), (expected, reasons)
    assert all(f.endswith('bad.txt') for f, _ in ds.skipped)
    assert 'bad.txt: skipped 6 of 8 objects' in logged and 'WARNING' in logged
    for i, line in enumerate(lines[1:7]):
        one = write_dota(tmp_path / f's{i}', 'one', [SQUARE, line])
        with pytest.raises(ValueError, match='one.txt'):
            DOTADataset(data_root=str(one), strict=True)


def test_bad_samples_are_skipped(tmp_path):
    root = write_dota(tmp_path, 'good', [SQUARE])
    (root / 'labelTxt' / 'noimage.txt').write_text(SQUARE + '\n')
    (root / 'labelTxt' / 'broken.txt').write_text(SQUARE + '\n')
    (root / 'images' / 'broken.png').write_bytes(b'not an image')
    (root / 'labelTxt' / 'binary.txt').write_bytes(b'\x00\x01\x02')
    (root / 'images' / 'binary.png').write_bytes((root / 'images' / 'good.png').read_bytes())
    ds = DOTADataset(data_root=str(root))
    assert len(ds) == 1 and ds.get_data_info(0)['img_id'] == 'good'
    reasons = dict((f.split('/')[-1], r) for f, r in ds.skipped)
    assert 'no image noimage.*' in reasons['noimage.txt']
    assert 'broken.png: not a readable image' in reasons['broken.txt']
    assert 'unreadable annotation file' in reasons['binary.txt']
    with pytest.raises(ValueError, match='binary'):
        DOTADataset(data_root=str(root), strict=True)
    with pytest.raises(FileNotFoundError, match='annotation folder'):
        DOTADataset(data_root=str(tmp_path / 'nope'))


def test_custom_classes_image_set_and_empty_images(tmp_path):
    root = write_dota(tmp_path, 'a', [SQUARE, '40 30 50 30 50 40 40 40 plane 0'])
    write_dota(root, 'b', [])
    ds = DOTADataset(data_root=str(root), metainfo=dict(classes=('plane', )))
    assert [x['bbox_label'] for x in _instances(ds)] == [0] and len(ds) == 2
    (root / 'set.txt').write_text('b\n')
    assert len(DOTADataset(data_root=str(root), ann_file='set.txt')) == 1
    filtered = DOTADataset(data_root=str(root), filter_cfg=dict(filter_empty_gt=True))
    assert len(filtered) == 1 and filtered.get_data_info(0)['img_id'] == 'a'
    with pytest.raises(ValueError, match='point_mode'):
        DOTADataset(data_root=str(root), point_mode='corner')


def test_point_label_folder(tmp_path):
    root = write_dota(tmp_path, 'a', [SQUARE])
    write_point_txt(root / 'points' / 'a.txt', [[20, 15], [5, 5], [70, 5], [3, 4]],
                    ['ship', 'plane', 'ship', 'bus'], [0, 1, 0, 0])
    (root / 'points' / 'a.txt').write_text((root / 'points' / 'a.txt').read_text()
                                           + '1 nan ship\n')
    ds = DOTADataset(data_root=str(root), point_dir='points')
    info = ds.get_data_info(0)
    assert info['has_gt_boxes'] is False
    assert info['instances'] == [dict(bbox_label=6, ignore_flag=0, point=[20.0, 15.0]),
                                 dict(bbox_label=0, ignore_flag=1, point=[5.0, 5.0])]
    reasons = ' | '.join(r for _, r in ds.skipped)
    assert 'point (70.0, 5.0) outside the 64x48 image' in reasons
    assert "unknown class 'bus'" in reasons and 'non-finite coordinate' in reasons
