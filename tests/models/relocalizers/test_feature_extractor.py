import numpy as np
import pytest
import torch

from vision_sparse.models.relocalizers import (DenseFeatureExtractor, image_to_tensor,
                                               sample_dense, sample_patches)


def test_xfeat_outputs_any_size(scene, extractor):
    img = scene['train'][0]['image'][:190, :250]  # not a multiple of 32
    out = extractor(dict(image=img))
    n, c = out['descriptors'].shape
    assert c == extractor.descriptor_dim == 64
    assert out['dense'].shape == (64, 190, 250)
    assert out['image_size'] == (250, 190)
    assert n > 50 and out['keypoints'].shape == (n, 2) and out['scores'].shape == (n,)
    b = extractor.conf['border']
    kp = out['keypoints']
    assert (kp[:, 0] >= b).all() and (kp[:, 0] <= 249 - b).all()
    assert (kp[:, 1] >= b).all() and (kp[:, 1] <= 189 - b).all()
    assert torch.allclose(out['dense'].norm(dim=0), torch.ones(190, 250), atol=1e-4)
    # keypoint descriptors are samples of the same dense map
    assert torch.allclose(out['descriptors'], sample_dense(out['dense'], kp), atol=1e-5)
    assert (out['scores'][:-1] >= out['scores'][1:]).all()


def test_dense_sampling_is_exact_at_pixels():
    dense = torch.nn.functional.normalize(torch.randn(8, 12, 16), dim=0)
    uv = torch.tensor([[3.0, 4.0], [10.0, 7.0]])
    assert torch.allclose(sample_dense(dense, uv), dense[:, [4, 7], [3, 10]].T, atol=1e-6)
    patches = sample_patches(dense, uv, half=2)
    assert patches.shape == (2, 5, 5, 8)
    # patch cell (dy, dx) = (-2, +1) is pixel (u + 1, v - 2)
    assert torch.allclose(patches[0, 0, 3], dense[:, 2, 4], atol=1e-6)
    assert torch.allclose(patches[:, 2, 2], sample_dense(dense, uv), atol=1e-6)
    assert sample_patches(dense, torch.zeros(0, 2)).shape == (0, 7, 7, 8)


def test_image_to_tensor_formats():
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    t = image_to_tensor(rgb)
    assert t.shape == (3, 20, 30) and t.max() <= 1
    assert torch.allclose(image_to_tensor(torch.from_numpy(rgb).permute(2, 0, 1)), t)
    assert image_to_tensor(rgb[..., 0]).shape == (3, 20, 30)
    with pytest.raises(ValueError, match='image'):
        image_to_tensor(np.zeros((20, 30, 4), np.uint8))
    with pytest.raises(ValueError, match='at least 8x8'):
        image_to_tensor(np.zeros((4, 30, 3), np.uint8))


def test_bad_configuration():
    with pytest.raises(ValueError, match='backend'):
        DenseFeatureExtractor(backend='sift')
    with pytest.raises(ValueError, match='unknown'):
        DenseFeatureExtractor(top_k=5)
    with pytest.raises(ValueError, match="'image'"):
        DenseFeatureExtractor()(dict(img=None))


def test_aliked_is_128d(scene):
    ext = DenseFeatureExtractor(backend='aliked', max_keypoints=256, detection_threshold=0.02)
    out = ext(dict(image=scene['train'][0]['image'][:96, :128]))
    assert ext.feature_type == 'aliked-n16'
    assert out['dense'].shape == (128, 96, 128)
    assert out['descriptors'].shape[1] == 128
    assert torch.allclose(out['descriptors'], sample_dense(out['dense'], out['keypoints']),
                          atol=1e-5)
