"""Tiling (DOTA_devkit rules) of the real P0706 image and merging of tile detections."""
import cv2
import numpy as np
import pytest
import torch

from vision_sparse.datasets.formats import load_dota_txt
from vision_sparse.datasets.oriented import (DOTADataset, clip_polygon, merge_tile_detections,
                                             parse_tile_name, polygon_area, split_image,
                                             split_objects, tile_name, tile_windows)
from vision_sparse.ops import box_iou_rotated
from vision_sparse.structures.bbox import poly2rbox

from .conftest import copy_sample


def test_windows_follow_the_devkit_rule():
    np.testing.assert_array_equal(tile_windows(1111, 1182, 512, 128)[:, 0][:3], [0, 384, 599])
    wins = tile_windows(1111, 1182, 512, 128)
    assert sorted(set(wins[:, 1].tolist())) == [0, 384, 670] and len(wins) == 9
    assert (wins[:, 2] - wins[:, 0] == 512).all()
    np.testing.assert_array_equal(tile_windows(300, 200, 1024, 200), [[0, 0, 300, 200]])
    np.testing.assert_array_equal(tile_windows(1024, 1024, 1024, 200), [[0, 0, 1024, 1024]])
    with pytest.raises(ValueError, match='gap'):
        tile_windows(100, 100, 64, 64)


def test_clipping_and_cut_objects():
    square = np.array([[10, 10], [30, 10], [30, 30], [10, 30]], float)
    assert polygon_area(clip_polygon(square, (0, 0, 100, 100))) == 400
    assert polygon_area(clip_polygon(square, (20, 0, 100, 100))) == 200
    assert len(clip_polygon(square, (40, 40, 100, 100))) == 0
    polys = np.stack([square.reshape(8), (square + [0, 5]).reshape(8), (square + 15).reshape(8)])
    idx, out, cut = split_objects(polys, (0, 0, 40, 32), iof_thr=0.7)
    assert idx.tolist() == [0, 1] and cut.tolist() == [False, True]  # 3rd: 0.17 inside
    np.testing.assert_allclose(out[1], [10, 15, 30, 15, 30, 32, 10, 32])  # clipped, same start
    idx, out, _ = split_objects(polys, (5, 8, 40, 40))
    np.testing.assert_allclose(out[0], polys[0] - [5, 8, 5, 8, 5, 8, 5, 8])


def test_tile_names():
    assert tile_name('P0706', 1024, 0, 824) == 'P0706__1024__0___824'
    assert parse_tile_name('P0706__1024__0___824.png') == dict(
        img_id='P0706', tile=1024, x=0, y=824, rate=1.0)
    assert parse_tile_name(tile_name('a__b', 512, 3, 4, 0.5)) == dict(
        img_id='a__b', tile=512, x=3, y=4, rate=0.5)
    with pytest.raises(ValueError, match='not a tile name'):
        parse_tile_name('P0706')


@pytest.fixture(scope='module')
def p0706(oriented_root):
    img = cv2.imread(str(oriented_root / 'dota/images/P0706.png'))
    ann = load_dota_txt(oriented_root / 'dota/labelTxt/P0706.txt')
    return img, ann


def test_split_real_image_keeps_every_object(p0706):
    img, ann = p0706
    tiles = split_image(img, ann['polys'], ann['labels'], ann['difficult'], img_id='P0706',
                        tile=512, gap=128)
    assert len(tiles) == 9 and all(t['img'].shape == (512, 512, 3) for t in tiles)
    polys = ann['polys'].astype(np.float64)
    for t in tiles:  # tile pixels are the image's
        h, w = min(512, img.shape[0] - t['y']), min(512, img.shape[1] - t['x'])
        np.testing.assert_array_equal(t['img'][:h, :w], img[t['y']:t['y'] + h, t['x']:t['x'] + w])
    for i, poly in enumerate(polys):
        xs, ys = poly[0::2], poly[1::2]
        fits = [t for t in tiles if xs.min() >= t['x'] and ys.min() >= t['y']
                and xs.max() <= t['x'] + 512 and ys.max() <= t['y'] + 512]
        if not fits:  # 590-px harbours cannot fit in a 512-px tile; some ships pass the border
            beyond = xs.max() > img.shape[1] or ys.max() > img.shape[0] or min(xs.min(),
                                                                                ys.min()) < 0
            assert ann['labels'][i] == 'harbor' or beyond
            continue
        for t in fits:  # wholly inside: the same polygon, shifted, with its label and flag
            shifted = poly - np.tile([t['x'], t['y']], 4)
            j = int(np.argmin(np.abs(t['polys'] - shifted).max(1)))
            np.testing.assert_allclose(t['polys'][j], shifted, atol=1e-9)
            assert t['labels'][j] == ann['labels'][i]
            assert t['difficult'][j] == ann['difficult'][i]


def test_merging_tile_ground_truth_gives_the_originals(p0706):
    img, ann = p0706
    classes = sorted(set(ann['labels']))
    # no original flags: a difficult tile object is a cut one, scored below whole ones
    tiles = split_image(img, ann['polys'], ann['labels'], None, img_id='P0706', tile=512,
                        gap=128, cut_difficult=True)
    results = [dict(img_id=t['name'], bboxes=poly2rbox(t['polys']),
                    scores=np.where(t['difficult'], 0.5, 1.0),
                    labels=[classes.index(n) for n in t['labels']]) for t in tiles]
    merged = merge_tile_detections(results, iou_thr=0.1)
    assert list(merged) == ['P0706']
    out = merged['P0706']
    truth = torch.from_numpy(poly2rbox(ann['polys'].astype(np.float64))).float()
    iou = box_iou_rotated(truth, torch.from_numpy(out['bboxes']))
    best = iou.max(1).values
    polys = ann['polys'].reshape(-1, 4, 2)
    in_image = torch.from_numpy((polys.min((1, 2)) >= 0) & (polys[..., 0].max(1) <= img.shape[1])
                                & (polys[..., 1].max(1) <= img.shape[0]))
    ships = torch.tensor([n == 'ship' for n in ann['labels']])
    assert float(best[ships & in_image].min()) > 0.999  # every ship comes back, exactly
    wins = tile_windows(img.shape[1], img.shape[0], 512, 128)
    for i in torch.nonzero(~(ships & in_image))[:, 0].tolist():  # harbours, border ships: cut
        most_inside = max(polygon_area(clip_polygon(polys[i], w)) for w in wins) / polygon_area(
            polys[i])
        assert best[i] > 0.7 if most_inside >= 0.7 else best[i] < 0.1  # dropped when < 70 %
    assert len(out['bboxes']) == int((best > 0.7).sum())  # nothing twice, nothing extra
    # explicit offsets and a rate give the same
    offsets = [parse_tile_name(r['img_id']) for r in results]
    again = merge_tile_detections(
        [dict(ori_id='P0706', offset=(o['x'], o['y']), bboxes=r['bboxes'], scores=r['scores'],
              labels=r['labels']) for o, r in zip(offsets, results)])
    np.testing.assert_allclose(again['P0706']['bboxes'], out['bboxes'], atol=1e-4)


def test_rates_and_merge_scaling():
    boxes = np.array([[50.0, 40.0, 20.0, 10.0, 0.3]])
    merged = merge_tile_detections([dict(img_id='x__0.5__256__100___20', bboxes=boxes,
                                         scores=[0.9], labels=[2])])
    np.testing.assert_allclose(merged['x']['bboxes'], [[300, 120, 40, 20, 0.3]], atol=1e-5)
    assert merge_tile_detections([dict(img_id='x__256__0___0', bboxes=np.zeros((0, 5)),
                                       scores=[], labels=[])])['x']['bboxes'].shape == (0, 5)
    with pytest.raises(ValueError, match='img_id'):
        merge_tile_detections([dict(bboxes=boxes, scores=[1], labels=[0])])
    img = np.zeros((300, 400, 3), np.uint8)
    tiles = split_image(img, np.array([[100, 100, 140, 100, 140, 120, 100, 120]]), ['ship'],
                        tile=256, gap=56, rates=(0.5, 1.0))
    half = [t for t in tiles if t['rate'] == 0.5]
    assert len(half) == 1 and half[0]['name'] == 'img__0.5__256__0___0'
    np.testing.assert_allclose(half[0]['polys'], [[50, 50, 70, 50, 70, 60, 50, 60]])


def test_split_tool_writes_a_loadable_folder(tmp_path, oriented_root):
    from tools.dota_split import main
    src = copy_sample(oriented_root / 'dota', tmp_path / 'src', 'images/P1888.png',
                      'labelTxt/P1888.txt')
    main([str(src), str(tmp_path / 'out'), '--tile', '384', '--gap', '96'])
    names = sorted(p.stem for p in (tmp_path / 'out' / 'images').glob('*.png'))
    assert names == ['P1888__384__0___0', 'P1888__384__0___173', 'P1888__384__288___0',
                     'P1888__384__288___173', 'P1888__384__328___0', 'P1888__384__328___173']
    ds = DOTADataset(data_root=str(tmp_path / 'out'))
    assert len(ds) == 6 and ds.skipped == []
    assert all(ds.get_data_info(i)['width'] == 384 for i in range(6))
    total = sum(len(ds.get_data_info(i)['instances']) for i in range(6))
    assert total >= 64  # every object at least once
