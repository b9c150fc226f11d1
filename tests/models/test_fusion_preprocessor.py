"""FusionDataPreprocessor: the SparseFusion batch contract."""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from vision_sparse.models.data_preprocessors import FusionDataPreprocessor
from vision_sparse.registry import MODELS

MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def _sample(n_points=7, views=2, hw=(6, 10), seed=0):
    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (views, 3, *hw), generator=g, dtype=torch.uint8)
    ds = DetDataSample(metainfo=dict(cam_names=[f'CAM_{i}' for i in range(views)]))
    return dict(inputs=dict(points=torch.randn(n_points, 5, generator=g), imgs=imgs),
                data_samples=ds)


def test_builds_from_the_registry():
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        pp = MODELS.build(dict(type='FusionDataPreprocessor'))
    assert isinstance(pp, FusionDataPreprocessor)


def test_normalises_rgb_and_keeps_points_a_list():
    batch = [_sample(7, seed=0), _sample(0, seed=1)]  # the second point cloud is empty
    out = FusionDataPreprocessor()(pseudo_collate(batch))
    imgs = out['inputs']['imgs']
    assert imgs.shape == (2, 2, 3, 6, 10) and imgs.dtype == torch.float32
    bgr = batch[1]['inputs']['imgs'].float()
    want = (bgr.flip(1) - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    torch.testing.assert_close(imgs[1], want)
    pts = out['inputs']['points']
    assert isinstance(pts, list) and [p.shape for p in pts] == [(7, 5), (0, 5)]
    torch.testing.assert_close(pts[0], batch[0]['inputs']['points'])
    assert out['data_samples'][0] is not None


def test_list_of_samples_and_no_flip():
    batch = [_sample(3)]
    inputs = [b['inputs'] for b in batch]
    out = FusionDataPreprocessor(mean=(0, 0, 0), std=(1, 1, 1), bgr_to_rgb=False)(
        dict(inputs=inputs, data_samples=[batch[0]['data_samples']]))
    torch.testing.assert_close(out['inputs']['imgs'][0], batch[0]['inputs']['imgs'].float())


def test_points_only_and_padding():
    s = _sample(4, hw=(30, 50))
    out = FusionDataPreprocessor(pad_size_divisor=32)(pseudo_collate([s]))
    assert out['inputs']['imgs'].shape[-2:] == (32, 64)
    assert out['data_samples'][0].metainfo['pad_shape'] == (32, 64)
    assert (out['inputs']['imgs'][..., 30:, :] == 0).all()
    lidar = dict(inputs=dict(points=[torch.zeros(2, 4)]), data_samples=None)
    out = FusionDataPreprocessor()(lidar)
    assert 'imgs' not in out['inputs'] and out['inputs']['points'][0].shape == (2, 4)


def test_views_of_different_sizes_name_the_views():
    s = _sample(3)
    s['inputs']['imgs'] = [torch.zeros(3, 6, 10, dtype=torch.uint8),
                           torch.zeros(3, 8, 10, dtype=torch.uint8)]
    data = dict(inputs=[s['inputs']], data_samples=[s['data_samples']])
    with pytest.raises(ValueError, match=r"CAM_0.*CAM_1.*\(3, 8, 10\)"):
        FusionDataPreprocessor()(data)
    with pytest.raises(ValueError, match='different view stacks'):
        FusionDataPreprocessor()(pseudo_collate([_sample(hw=(6, 10)), _sample(hw=(6, 12))]))


def test_bad_points_and_options():
    s = _sample(3)
    s['inputs']['points'] = torch.zeros(5)
    with pytest.raises(ValueError, match='points must have shape'):
        FusionDataPreprocessor()(pseudo_collate([s]))
    with pytest.raises(ValueError, match='std'):
        FusionDataPreprocessor(std=(1, 0, 1))
    with pytest.raises(ValueError, match='pad_size_divisor'):
        FusionDataPreprocessor(pad_size_divisor=0)
    assert np.isfinite(FusionDataPreprocessor().mean.numpy()).all()
