"""OBBInferencer: points in, one oriented box per point out (PointOBB); every detected box
out (rotated FCOS); the result contract; bad points."""
import numpy as np
import pytest
import torch

from vision_sparse.apis import OBBInferencer
from vision_sparse.apis.obb import parse_points
from vision_sparse.structures.results import check_result

CLASSES = ('a', 'b', 'c')


def _pointobb_cfg():
    from tests.models.pointobb.helpers import tiny_model_cfg
    return dict(model=tiny_model_cfg(), default_scope='vision_sparse',
                test_dataloader=dict(dataset=dict(metainfo=dict(classes=CLASSES))))


def _image(size=128):
    rng = np.random.default_rng(0)
    img = (rng.random((size, size, 3)) * 40).astype(np.uint8)
    img[40:60, 30:90] = 220
    return img


def test_parse_points_forms_and_errors():
    pts, lbl = parse_points(['10,20,b', '30.5,4'], classes=CLASSES, image_shape=(50, 50))
    assert pts.tolist() == [[10, 20], [30.5, 4]] and lbl.tolist() == [1, 0]
    pts, lbl = parse_points([[1, 2]], labels=['c'], classes=CLASSES)
    assert lbl.tolist() == [2]
    with pytest.raises(ValueError, match='unknown class'):
        parse_points(['1,2,zebra'], classes=CLASSES)
    with pytest.raises(ValueError, match='outside'):
        parse_points(['60,2'], classes=CLASSES, image_shape=(50, 50))
    with pytest.raises(ValueError, match='finite'):
        parse_points([[float('nan'), 1]])
    with pytest.raises(ValueError, match='one entry per point'):
        parse_points([[1, 1]], labels=[0, 1])
    with pytest.raises(ValueError, match='out of range'):
        parse_points(['1,1,7'], classes=CLASSES)


def test_pointobb_one_box_per_point():
    torch.manual_seed(0)
    inf = OBBInferencer(_pointobb_cfg())
    img = _image()
    res = inf(img, points=['60,50,a', '20,100,c'])
    check_result(res)
    assert res['success'] and res['num_boxes'] == 2
    assert res['boxes'].shape == (2, 5) and res['polygons'].shape == (2, 8)
    assert res['labels'].tolist() == [0, 2] and res['class_names'] == ['a', 'c']
    # each box is centred near its point (bags are centred on the points)
    assert np.abs(res['boxes'][:, :2] - [[60, 50], [20, 100]]).max() < 40
    pic = inf.draw(res, img, points=[[60, 50], [20, 100]])
    assert pic.shape == img.shape and pic.dtype == np.uint8


def test_pointobb_without_points_is_a_defined_failure():
    inf = OBBInferencer(_pointobb_cfg())
    res = inf(_image())
    check_result(res)
    assert not res['success'] and 'point' in res['reason'] and res['boxes'].shape == (0, 5)


def test_rotated_fcos_config_detects_without_points():
    from mmengine.config import Config
    cfg = Config.fromfile('configs/pointobb/pointobb_rotated-fcos-r18_600it_synthetic-aerial.py')
    cfg.model.test_cfg.score_thr = 0.0  # untrained: keep whatever it scores
    inf = OBBInferencer(cfg)
    res = inf(_image(96))
    check_result(res)
    assert res['boxes'].shape[1] == 5 and len(res['scores']) == res['num_boxes'] > 0
    assert res['class_names'][0] in inf.classes


def test_cli_obb_prints_json_and_draws(tmp_path, capsys):
    import json

    import cv2

    from vision_sparse.apis.__main__ import main
    img = tmp_path / 'img.png'
    cv2.imwrite(str(img), _image(96))
    out = tmp_path / 'obb.png'
    cfg = 'configs/pointobb/pointobb_rotated-fcos-r18_600it_synthetic-aerial.py'
    rc = main(['obb', cfg, str(img), '--points', '10,10,ship', '--out', str(out),
               '--cfg-options', 'model.test_cfg.score_thr=0.0'])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0 and summary['success'] and summary['num_boxes'] > 0
    assert out.is_file()
    rc = main(['obb', cfg, str(img), '--points', '10,10,zebra'])
    assert rc == 2 and 'unknown class' in capsys.readouterr().err
