"""Annotation parsers: DOTA txt, DIOR-R xml, mmdet3d info pickles, .bin."""
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vision_sparse.datasets.formats import (KITTI_CLASSES, NUSCENES_CLASSES,
                                            load_det3d_info, load_dior_xml,
                                            load_dota_txt, load_points,
                                            parse_dota_lines)
from vision_sparse.structures.bbox import (CameraBoxes3D, LiDARBoxes3D,
                                           rbox2poly)
from vision_sparse.testing.data import shared_data_root

DATA = shared_data_root()


def _sub(*parts):
    return None if DATA is None else DATA.joinpath(*parts)


def _needs(path, what):
    return pytest.mark.skipif(
        path is None or not path.exists(),
        reason=f'{what} not found under ../shared/data; set '
        'VISION_SPARSE_DATA')


DOTA = _sub('oriented', 'dota')
PATCH = _sub('oriented', 'dota_patch')
DIOR = _sub('oriented', 'dior')
NUS = _sub('lidar_camera', 'nuscenes')
KITTI = _sub('lidar_camera', 'kitti')


# ---------------------------------------------------------------- DOTA
@_needs(DOTA, 'DOTA sample')
def test_dota_real_files():
    ann = load_dota_txt(DOTA / 'labelTxt' / 'P1888.txt')
    assert Counter(ann['labels']) == {'large-vehicle': 50, 'small-vehicle': 14}
    assert ann['polys'].shape == (64, 8) and ann['polys'].dtype == np.float32
    assert ann['rboxes'].shape == (64, 5) and ann['rboxes'].dtype == np.float32
    assert ann['difficult'].shape == (64, ) and ann['difficult'].dtype == bool
    assert ann['meta']['imagesource'] == 'GoogleEarth'
    assert ann['meta']['gsd'] == pytest.approx(0.266170468393)
    np.testing.assert_array_equal(ann['polys'][0],
                                  [674, 375, 683, 375, 684, 394, 675, 395])
    theta = ann['rboxes'][:, 4]
    assert np.all((theta >= -np.pi / 2) & (theta < np.pi / 2))
    # the boxes are tight around the labelled quadrilaterals
    rect = rbox2poly(ann['rboxes'].astype(np.float64)).reshape(-1, 4, 2)
    assert np.abs(rect.mean(1) - ann['polys'].reshape(-1, 4, 2).mean(1)).max() \
        < 2.0
    big = load_dota_txt(DOTA / 'labelTxt' / 'P0706.txt')
    assert Counter(big['labels']) == {'ship': 531, 'harbor': 5}


@_needs(PATCH, 'DOTA patch sample')
def test_dota_patch_scale():
    txt = next((PATCH / 'labelTxt').glob('*.txt'))
    raw = load_dota_txt(txt)
    scaled = load_dota_txt(txt, scale=170 / 1024)
    assert raw['polys'].max() > 170  # labels are in 1024-pixel coordinates
    assert scaled['polys'].min() >= 0 and scaled['polys'].max() <= 170
    np.testing.assert_allclose(scaled['polys'], raw['polys'] * 170 / 1024,
                               rtol=1e-6)
    np.testing.assert_allclose(scaled['rboxes'][:, 2:4],
                               raw['rboxes'][:, 2:4] * 170 / 1024, rtol=1e-5)
    assert raw['meta'] == {'imagesource': None, 'gsd': None}


def test_dota_header_blank_and_missing_fields(tmp_path):
    text = ('\n'
            '0 0 10 0 10 5 0 5 plane 1\n'
            '\n'
            '20 20 30 20 30 40 20 40 small-vehicle\n'
            '   \n')
    path = tmp_path / 'a.txt'
    path.write_text(text)
    ann = load_dota_txt(path)
    assert ann['labels'] == ['plane', 'small-vehicle']
    assert ann['difficult'].tolist() == [True, False]
    assert ann['meta'] == {'imagesource': None, 'gsd': None}
    np.testing.assert_allclose(ann['rboxes'][0], [5, 2.5, 10, 5, 0])
    with_header = parse_dota_lines(['imagesource:GoogleEarth', 'gsd:null'] +
                                   text.splitlines())
    assert with_header['meta'] == {'imagesource': 'GoogleEarth', 'gsd': None}
    np.testing.assert_array_equal(with_header['polys'], ann['polys'])


def test_dota_empty_and_malformed(tmp_path):
    empty = tmp_path / 'empty.txt'
    empty.write_text('imagesource:GoogleEarth\ngsd:0.5\n')
    ann = load_dota_txt(empty)
    assert ann['polys'].shape == (0, 8) and ann['rboxes'].shape == (0, 5)
    assert ann['labels'] == [] and ann['difficult'].shape == (0, )
    assert ann['meta']['gsd'] == 0.5
    bad = tmp_path / 'bad.txt'
    bad.write_text('0 0 1 0 1 1 0 1 plane 0\n0 0 1 0 1 plane\n')
    with pytest.raises(ValueError, match=r'bad.txt:2'):
        load_dota_txt(bad)
    with pytest.raises(ValueError, match='non-numeric'):
        parse_dota_lines(['0 0 1 0 x 1 0 1 plane 0'])
    with pytest.raises(ValueError, match='difficult'):
        parse_dota_lines(['0 0 1 0 1 1 0 1 plane 2'])
    with pytest.raises(ValueError, match='scale'):
        parse_dota_lines([], scale=0)
    with pytest.raises(FileNotFoundError):
        load_dota_txt(tmp_path / 'missing.txt')


# ---------------------------------------------------------------- DIOR
@_needs(DIOR, 'DIOR-R sample')
def test_dior_real_file():
    ann = load_dior_xml(DIOR / 'Annotations' / 'Oriented Bounding Boxes' /
                        '00001.xml')
    assert ann['labels'] == ['golffield']
    np.testing.assert_array_equal(ann['polys'],
                                  [[133, 237, 684, 237, 684, 672, 133, 672]])
    np.testing.assert_allclose(ann['rboxes'], [[408.5, 454.5, 551, 435, 0]])
    assert ann['difficult'].tolist() == [False]
    assert ann['meta']['width'] == 800 and ann['meta']['height'] == 800
    assert ann['meta']['filename'] == '00001.jpg'
    assert ann['meta']['angles_deg'].tolist() == [0.0]


def test_dior_synthetic(tmp_path):
    xml = """<annotation><filename>x.jpg</filename>
    <size><width>100</width><height>50</height></size>
    <object><name>ship</name><difficult>1</difficult><robndbox>
      <x_left_top>10</x_left_top><y_left_top>0</y_left_top>
      <x_right_top>20</x_right_top><y_right_top>10</y_right_top>
      <x_right_bottom>10</x_right_bottom><y_right_bottom>20</y_right_bottom>
      <x_left_bottom>0</x_left_bottom><y_left_bottom>10</y_left_bottom>
    </robndbox><angle>45</angle></object>
    <object><name>tank</name><bndbox><xmin>1</xmin><ymin>2</ymin>
      <xmax>5</xmax><ymax>8</ymax></bndbox></object></annotation>"""
    path = tmp_path / 'a.xml'
    path.write_text(xml)
    ann = load_dior_xml(path)
    assert ann['labels'] == ['ship', 'tank']
    assert ann['difficult'].tolist() == [True, False]
    side = np.hypot(10, 10)
    np.testing.assert_allclose(ann['rboxes'][0], [10, 10, side, side,
                                                  np.pi / 4], atol=1e-5)
    np.testing.assert_allclose(ann['rboxes'][1], [3, 5, 4, 6, 0])
    assert np.isnan(ann['meta']['angles_deg'][1])
    empty = tmp_path / 'e.xml'
    empty.write_text('<annotation><size><width>4</width><height>4</height>'
                     '</size></annotation>')
    e = load_dior_xml(empty)
    assert e['polys'].shape == (0, 8) and e['labels'] == []
    broken = tmp_path / 'b.xml'
    broken.write_text('<annotation><object>')
    with pytest.raises(ValueError, match='invalid XML'):
        load_dior_xml(broken)
    nobox = tmp_path / 'n.xml'
    nobox.write_text('<annotation><object><name>a</name></object>'
                     '</annotation>')
    with pytest.raises(ValueError, match='robndbox'):
        load_dior_xml(nobox)


# ---------------------------------------------------------------- nuScenes
@_needs(NUS, 'nuScenes sample')
def test_nuscenes_info():
    infos = load_det3d_info(next(NUS.glob('*.pkl')))
    assert len(infos) == 1
    info = infos[0]
    assert info['dataset'] == 'nuscenes' and info['box_frame'] == 'lidar'
    assert info['class_names'] == NUSCENES_CLASSES
    boxes = info['gt_bboxes_3d']
    assert isinstance(boxes, LiDARBoxes3D) and boxes.tensor.shape == (69, 7)
    assert info['gt_labels_3d'].shape == (69, ) and len(info['gt_names']) == 69
    assert info['gt_names'][0] == NUSCENES_CLASSES[info['gt_labels_3d'][0]]
    # one object is outside the 10 classes: kept with the ignore label -1
    assert (info['gt_labels_3d'] == -1).sum() == 1
    assert info['gt_names'][int(np.argmin(info['gt_labels_3d']))] == 'ignore'
    assert info['velocity'].shape == (69, 2)
    assert info['num_lidar_pts'].shape == (69, )
    assert set(info['cameras']) == {
        'CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
        'CAM_BACK_LEFT', 'CAM_BACK_RIGHT'
    }
    for cam in info['cameras'].values():
        assert cam['cam2img'].shape == (3, 3)
        assert cam['lidar2cam'].shape == (4, 4)
        assert Path(cam['img_path']).is_file()
        expected = np.eye(4)
        expected[:3, :3] = cam['cam2img']
        np.testing.assert_allclose(cam['lidar2img'],
                                   expected @ cam['lidar2cam'])
    pts = load_points(info['lidar_path'], info['num_pts_feats'])
    assert pts.shape == (34688, 5) and pts.dtype == np.float32
    # camera instances (bottom centre) = LiDAR boxes converted to the camera
    front = info['cam_instances']['CAM_FRONT']
    assert isinstance(front['bboxes_3d'], CameraBoxes3D)
    conv = boxes.convert_to('camera', info['cameras']['CAM_FRONT'][
        'lidar2cam']).tensor.numpy()
    for row in front['bboxes_3d'].tensor.numpy():
        j = np.argmin(np.linalg.norm(conv[:, :3] - row[:3], axis=1))
        np.testing.assert_allclose(conv[j, :6], row[:6], atol=1e-4)


@_needs(KITTI, 'KITTI sample')
def test_kitti_info():
    info = load_det3d_info(KITTI / '000008.pkl')[0]
    assert info['dataset'] == 'kitti' and info['box_frame'] == 'camera'
    assert info['class_names'] == KITTI_CLASSES
    boxes = info['gt_bboxes_3d']
    assert isinstance(boxes, CameraBoxes3D) and len(boxes) == 6
    assert info['gt_names'] == ['Car'] * 6
    assert info['ignore_bboxes_2d'].shape == (4, 4)  # DontCare
    assert info['gt_bboxes_2d'].shape == (6, 4)
    assert info['velocity'] is None
    cam = info['cameras']['CAM2']
    assert cam['cam2img'].shape == (4, 4) and cam['width'] == 1242
    with open(KITTI / '000008.pkl', 'rb') as f:
        stored = pickle.load(f)['data_list'][0]['images']['CAM2']['lidar2img']
    np.testing.assert_allclose(cam['lidar2img'], stored, atol=1e-6)
    assert info['cameras']['CAM0']['img_path'] is None
    assert set(info['extra']) == {'Tr_velo_to_cam', 'Tr_imu_to_velo',
                                  'R0_rect'}
    pts = load_points(info['lidar_path'])  # 4 values per point inferred
    assert pts.shape == (17238, 4)
    uv, valid = boxes.project_to_image(cam['cam2img'])
    assert valid.all()
    gc = boxes.gravity_center.numpy()
    hom = np.c_[gc, np.ones(len(gc))] @ cam['cam2img'][:3].T
    centres = hom[:, :2] / hom[:, 2:]
    assert np.all((centres[:, 0] > 0) & (centres[:, 0] < 1242)
                  & (centres[:, 1] > 0) & (centres[:, 1] < 375))


def test_info_synthetic_and_errors(tmp_path):
    pkl = tmp_path / 'x.pkl'
    with open(pkl, 'wb') as f:
        pickle.dump({'metainfo': {}, 'data_list': [{'sample_idx': 3}]}, f)
    info = load_det3d_info(pkl)[0]
    assert info['gt_bboxes_3d'].tensor.shape == (0, 7)
    assert info['gt_labels_3d'].shape == (0, ) and info['cameras'] == {}
    assert info['lidar_path'] is None and info['sample_idx'] == 3
    with open(pkl, 'wb') as f:
        pickle.dump([1, 2], f)
    with pytest.raises(ValueError, match='data_list'):
        load_det3d_info(pkl)
    with pytest.raises(ValueError, match='box_frame'):
        with open(pkl, 'wb') as f:
            pickle.dump({'data_list': []}, f)
        load_det3d_info(pkl, box_frame='ego')


def test_load_points_errors(tmp_path):
    path = tmp_path / 'p.bin'
    np.arange(7, dtype=np.float32).tofile(path)
    with pytest.raises(ValueError, match='infer'):
        load_points(path)
    with pytest.raises(ValueError, match='multiple'):
        load_points(path, 4)
    with pytest.raises(ValueError, match='dim'):
        load_points(path, 2)
    np.arange(20, dtype=np.float32).tofile(path)
    with pytest.raises(ValueError, match='infer'):
        load_points(path)  # both 4 and 5 fit: ambiguous
    assert load_points(path, 5).shape == (4, 5)
    empty = tmp_path / 'e.bin'
    empty.write_bytes(b'')
    assert load_points(empty).shape == (0, 4)
