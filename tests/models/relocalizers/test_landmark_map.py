import numpy as np
import pytest
import torch

from vision_sparse.models.relocalizers import LandmarkMap
from vision_sparse.testing.synthetic_scene import look_at_pose


def _map(L=5, C=128, feature_type='aliked-n16'):
    gen = torch.Generator().manual_seed(0)
    centers = torch.rand(L, 3, generator=gen, dtype=torch.float64) + torch.tensor([0, 3.0, 0])
    return LandmarkMap(centers, centers - 0.02, centers + 0.02,
                       torch.randn(L, 3, 3, 3, generator=gen),
                       torch.randn(L, C, 3, 3, 3, generator=gen), feature_type,
                       psnr=torch.full((L,), 25.0), num_obs=torch.full((L,), 7))


def test_round_trip(tmp_path):
    m = _map()
    path = tmp_path / 'sub' / 'map.pth'
    m.save(str(path))
    state = torch.load(path, weights_only=True)  # plain tensors and metadata only
    assert state['descriptor_dim'] == 128 and state['feature_type'] == 'aliked-n16'
    m2 = LandmarkMap.load(str(path), descriptor_dim=128, feature_type='aliked-n16')
    assert len(m2) == 5 and torch.equal(m2.features, m.features)
    assert torch.equal(m2.centers, m.centers) and m2.density_shift == m.density_shift


def test_loading_another_extractor_is_a_clear_error(tmp_path):
    path = str(tmp_path / 'map.pth')
    _map().save(path)
    with pytest.raises(ValueError, match='128-d descriptors.*64-d are expected'):
        LandmarkMap.load(path, descriptor_dim=64)
    with pytest.raises(ValueError, match="feature type 'aliked-n16'.*'xfeat'"):
        LandmarkMap.load(path, feature_type='xfeat')
    torch.save(dict(weights=torch.zeros(3)), str(tmp_path / 'other.pth'))
    with pytest.raises(ValueError, match='not a FaVoR landmark map'):
        LandmarkMap.load(str(tmp_path / 'other.pth'))
    with pytest.raises(FileNotFoundError, match='favor_build_map'):
        LandmarkMap.load(str(tmp_path / 'missing.pth'))


def test_memory_per_landmark_matches_the_paper():
    # 27 cells x (1 density + 128 features) x 4 bytes + box, centre, PSNR, count
    m = _map(L=10, C=128)
    expected = (27 * 129 * 4 + 3 * 3 * 8 + 4 + 8) / 1024
    assert m.memory_per_landmark_kb() == pytest.approx(expected)
    assert m.memory_per_landmark_kb() < 14.0


def test_render_view_visibility():
    m = _map(L=4, C=16, feature_type='xfeat')
    K = np.array([[200.0, 0, 100], [0, 200.0, 80], [0, 0, 1]])
    front = look_at_pose([0.5, 0, 0.5], [0.5, 3.5, 0.5])
    view = m.render_view(front, K, (200, 160), border=0)
    n = view['landmark_ids'].numel()
    assert n >= 1 and view['descriptors'].shape == (n, 16)
    assert torch.allclose(view['descriptors'].norm(dim=-1), torch.ones(n), atol=1e-5)
    # projected pixels are the landmark centres seen from that pose
    w2c = np.linalg.inv(front)
    Xc = m.centers[view['landmark_ids']].numpy() @ w2c[:3, :3].T + w2c[:3, 3]
    assert np.allclose(view['uv'].numpy(), (Xc @ K.T)[:, :2] / Xc[:, 2:], atol=1e-3)
    # looking the other way, every landmark is behind the camera
    back = look_at_pose([0.5, 0, 0.5], [0.5, -3.5, 0.5])
    empty = m.render_view(back, K, (200, 160))
    assert empty['landmark_ids'].numel() == 0 and empty['descriptors'].shape == (0, 16)


def test_bad_shapes():
    with pytest.raises(ValueError, match='centers'):
        LandmarkMap(torch.zeros(3, 2), torch.zeros(3, 3), torch.zeros(3, 3),
                    torch.zeros(3, 3, 3, 3), torch.zeros(3, 4, 3, 3, 3), 'xfeat')
    with pytest.raises(ValueError, match='features'):
        LandmarkMap(torch.zeros(3, 3), torch.zeros(3, 3), torch.ones(3, 3), torch.zeros(3, 3, 3, 3),
                    torch.zeros(3, 4, 2, 3, 3), 'xfeat')
