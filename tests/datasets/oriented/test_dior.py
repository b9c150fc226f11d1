"""DIORDataset: the real DIOR-R sample, folder lookup, class-name case, bad files."""
import cv2
import numpy as np
import pytest

from vision_sparse.datasets.oriented import DIOR_CLASSES, DIORDataset
from vision_sparse.registry import DATASETS

XML = """<annotation><size><width>{w}</width><height>{h}</height><depth>3</depth></size>
<object><name>{name}</name><difficult>{diff}</difficult><robndbox>
<x_left_top>10</x_left_top><y_left_top>10</y_left_top><x_right_top>40</x_right_top>
<y_right_top>10</y_right_top><x_right_bottom>40</x_right_bottom><y_right_bottom>20</y_right_bottom>
<x_left_bottom>10</x_left_bottom><y_left_bottom>20</y_left_bottom></robndbox>
<angle>0</angle></object></annotation>"""


def _dior(root, name, xml, img_folder='JPEGImages-trainval', size=(64, 48)):
    (root / img_folder).mkdir(parents=True, exist_ok=True)
    ann = root / 'Annotations' / 'Oriented Bounding Boxes'
    ann.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / img_folder / f'{name}.jpg'),
                np.full((size[1], size[0], 3), 80, np.uint8))
    (ann / f'{name}.xml').write_text(xml)
    return root


def test_real_dior_sample(oriented_root):
    ds = DATASETS.build(dict(type='DIORDataset', data_root=str(oriented_root / 'dior'),
                             ann_file='demo.txt'))
    assert len(ds) == 1 and ds.metainfo['classes'] == DIOR_CLASSES and len(DIOR_CLASSES) == 20
    assert 'storagetank' in ds.metainfo['angle_agnostic_classes']
    info = ds.get_data_info(0)
    assert info['img_path'].endswith('JPEGImage/00001.jpg')  # the sample's folder name
    assert (info['width'], info['height']) == (800, 800)
    (inst, ) = info['instances']
    np.testing.assert_allclose(inst['bbox'], [408.5, 454.5, 551.0, 435.0, 0.0], atol=1e-4)
    assert DIOR_CLASSES[inst['bbox_label']] == 'golffield' and inst['ignore_flag'] == 0
    offset = np.abs(np.subtract(inst['point'], inst['bbox'][:2]))
    assert (offset <= 0.1 * np.array(inst['bbox'][2:4]) + 1e-3).all()  # official ellipse rule


def test_class_case_folders_and_bad_files(tmp_path):
    root = _dior(tmp_path, 'a', XML.format(w=64, h=48, name='Expressway-Service-area', diff=1))
    _dior(root, 'b', XML.format(w=64, h=48, name='vehicle', diff=0), img_folder='JPEGImages-test')
    _dior(root, 'c', XML.format(w=640, h=480, name='vehicle', diff=0))  # size of another image
    _dior(root, 'd', '<annotation><object>', img_folder='JPEGImages-test')  # broken XML
    ds = DIORDataset(data_root=str(root))
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == ['a', 'b']
    a, b = ds.get_data_info(0)['instances'][0], ds.get_data_info(1)['instances'][0]
    assert DIOR_CLASSES[a['bbox_label']] == 'expressway-service-area' and a['ignore_flag'] == 1
    assert DIOR_CLASSES[b['bbox_label']] == 'vehicle'
    reasons = {f.split('/')[-1]: r for f, r in ds.skipped}
    assert 'records an image size of 640x480 px but the image is 64x48' in reasons['c.xml']
    assert 'invalid XML' in reasons['d.xml']
    (root / 'set.txt').write_text('c\n')
    rescaled = DIORDataset(data_root=str(root), ann_file='set.txt', ann_image_size=(640, 480))
    np.testing.assert_allclose(rescaled.get_data_info(0)['instances'][0]['bbox'][:4],
                               [2.5, 1.5, 3.0, 1.0], atol=1e-5)
    with pytest.raises(ValueError, match='c.xml: the file records an image size'):
        DIORDataset(data_root=str(root), strict=True)
    (root / 'set.txt').write_text('d\n')
    with pytest.raises(ValueError, match='d.xml: unreadable annotation file'):
        DIORDataset(data_root=str(root), ann_file='set.txt', strict=True)
