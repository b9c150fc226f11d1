"""SyntheticWarpPairsDataset: the warp's ground truth is exact, pairs are deterministic."""
import cv2
import numpy as np
import pytest
import torch

from vision_sparse.datasets import (SyntheticWarpPairsDataset, grid_to_pixels, procedural_texture,
                                    random_warp_grid, warp_grid)
from vision_sparse.registry import DATASETS
from vision_sparse.testing.data import shared_data_path

H, W = 192, 256


@pytest.fixture(scope='module')
def ramp_dir(tmp_path_factory):
    """One 256 x 192 image whose red channel is x and green channel is y (exact in uint8)."""
    folder = tmp_path_factory.mktemp('ramp')
    ys, xs = np.mgrid[0:H, 0:W]
    rgb = np.stack([xs, ys, np.full_like(xs, 128)], -1).astype(np.uint8)
    cv2.imwrite(str(folder / 'ramp.png'), rgb[..., ::-1])
    return folder


def test_target_pixels_show_the_source_at_the_flow(ramp_dir):
    ds = SyntheticWarpPairsDataset(num_pairs=3, image_size=(H, W), image_dir=str(ramp_dir),
                                   seed=5)
    for i in range(len(ds)):
        item = ds[i]
        src, tgt = item['inputs'][0] * 255, item['inputs'][1] * 255
        sample = item['data_samples']
        assert sample['source'] == 'ramp.png' and sample['index'] == i
        ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32),
                                torch.arange(W, dtype=torch.float32), indexing='ij')
        torch.testing.assert_close(src[0], xs, atol=1e-3, rtol=0)  # the file as written
        pos = torch.stack([xs, ys], -1) + sample['flow']  # source position of each target pixel
        torch.testing.assert_close(pos, grid_to_pixels(sample['grid']))
        # bilinear sampling of a linear ramp is exact wherever all 4 neighbours are inside
        inside = ((pos[..., 0] >= 0) & (pos[..., 0] <= W - 1) & (pos[..., 1] >= 0)
                  & (pos[..., 1] <= H - 1))
        assert inside.float().mean() > 0.7
        assert (tgt[0][inside] - pos[..., 0][inside]).abs().max() < 2e-3
        assert (tgt[1][inside] - pos[..., 1][inside]).abs().max() < 2e-3
        # and outside the source the target is black (zero padding)
        far = (pos[..., 0] < -1) | (pos[..., 0] > W) | (pos[..., 1] < -1) | (pos[..., 1] > H)
        assert (tgt[:, far] == 0).all()
        assert sample['flow'].abs().max() > 2  # a real warp, not the identity


def test_a_zero_warp_is_the_identity():
    grid = random_warp_grid((6, 10), seed=3, max_rotation=0, scale_range=(1, 1), max_shift=0,
                            wobble=0)
    ys, xs = torch.meshgrid(torch.arange(6.), torch.arange(10.), indexing='ij')
    torch.testing.assert_close(grid_to_pixels(grid[0]), torch.stack([xs, ys], -1),
                               atol=1e-5, rtol=0)


def test_warp_grid_of_given_parameters():
    ys, xs = torch.meshgrid(torch.arange(6.), torch.arange(10.), indexing='ij')
    pix = torch.stack([xs, ys], -1)
    torch.testing.assert_close(grid_to_pixels(warp_grid((6, 10))[0]), pix, atol=1e-5, rtol=0)
    # a shift of (0.2, -0.5) normalised units is (0.2 * W / 2, -0.5 * H / 2) pixels
    shifted = grid_to_pixels(warp_grid((6, 10), shift=(0.2, -0.5))[0])
    torch.testing.assert_close(shifted - pix, torch.tensor([1.0, -1.5]).expand(6, 10, 2),
                               atol=1e-5, rtol=0)
    # 90 degrees about the centre, in pixels (isotropic although H != W), scale 2
    c = torch.tensor([4.5, 2.5])
    rot = grid_to_pixels(warp_grid((6, 10), rotation=90.0, scale=2.0)[0]) - c
    d = pix - c
    torch.testing.assert_close(rot, 2 * torch.stack([-d[..., 1], d[..., 0]], -1),
                               atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match='scale must be > 0'):
        warp_grid((6, 10), scale=0.0)


def test_random_warp_grid_is_warp_grid_of_its_draws():
    g = torch.Generator().manual_seed(11)
    draws = [torch.rand((), generator=g).item() for _ in range(8)]
    u = lambda i, lo, hi: lo + (hi - lo) * draws[i]  # noqa: E731
    import math
    expected = warp_grid((12, 20), rotation=u(0, -10, 10), scale=u(1, 0.9, 1.1),
                         shift=(u(2, -0.08, 0.08), u(3, -0.08, 0.08)), wobble=0.03,
                         wobble_freq=(u(4, 1, 2), u(5, 1, 2)),
                         wobble_phase=(u(6, 0, 2 * math.pi), u(7, 0, 2 * math.pi)))
    torch.testing.assert_close(random_warp_grid((12, 20), 11), expected, atol=0, rtol=0)


def test_pairs_are_deterministic_by_seed_and_index():
    a = SyntheticWarpPairsDataset(num_pairs=4, image_size=(32, 48), seed=1)
    b = DATASETS.build(dict(type='SyntheticWarpPairsDataset', num_pairs=4, image_size=(32, 48),
                            seed=1))
    c = SyntheticWarpPairsDataset(num_pairs=4, image_size=(32, 48), seed=2)
    for i in range(4):
        torch.testing.assert_close(a[i]['inputs'], b[i]['inputs'], rtol=0, atol=0)
        assert not torch.equal(a[i]['inputs'], c[i]['inputs'])
    assert not torch.equal(a[0]['inputs'], a[1]['inputs'])
    item = a[2]
    assert item['inputs'].shape == (2, 3, 32, 48) and item['inputs'].dtype == torch.float32
    assert item['data_samples']['grid'].shape == (32, 48, 2)
    assert item['data_samples']['source'] == 'texture'
    assert 0 <= item['inputs'].min() and item['inputs'].max() <= 1


def test_textures_when_the_folder_is_missing(tmp_path):
    with pytest.warns(UserWarning, match='procedural textures'):
        ds = SyntheticWarpPairsDataset(num_pairs=2, image_size=(16, 24),
                                       image_dir=str(tmp_path / 'nothing'))
    assert ds[0]['data_samples']['source'] == 'texture'
    tex = procedural_texture((16, 24), seed=0)
    assert tex.shape == (1, 3, 16, 24) and tex.min() == 0 and tex.max() == 1


def test_image_range_selects_files(ramp_dir):
    ds = SyntheticWarpPairsDataset(num_pairs=2, image_size=(H, W), image_dir=str(ramp_dir),
                                   image_range=(0, 1))
    assert [p.rsplit('/', 1)[-1] for p in ds.files] == ['ramp.png']
    with pytest.raises(ValueError, match='selects no file'):
        SyntheticWarpPairsDataset(image_dir=str(ramp_dir), image_range=(1, 3))


@pytest.mark.skipif(shared_data_path('matching', 'scannet_pairs', 'scannet_sample_images') is None,
                    reason='shared ScanNet sample images not available')
def test_scannet_sample_images_as_sources():
    folder = shared_data_path('matching', 'scannet_pairs', 'scannet_sample_images')
    ds = SyntheticWarpPairsDataset(num_pairs=2, image_size=(96, 128), image_dir=str(folder),
                                   image_range=(24, 30))
    assert len(ds.files) == 6
    assert ds[1]['data_samples']['source'].endswith('.jpg')


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_pairs=0), 'num_pairs'),
    (dict(image_size=(0, 8)), 'image_size'),
    (dict(image_size=(8, 8, 3)), 'image_size'),
    (dict(scale_range=(1.1, 0.9)), 'scale_range'),
    (dict(wobble=-1), 'wobble'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticWarpPairsDataset(**kwargs)


def test_index_out_of_range():
    with pytest.raises(IndexError):
        SyntheticWarpPairsDataset(num_pairs=1, image_size=(8, 8))[1]
