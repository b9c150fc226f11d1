"""LoFTRMatcher: never downloads; weights are checked when loaded."""
import pytest
import torch

from vision_sparse.models.matchers import LoFTRMatcher


def test_requires_weights_path():
    with pytest.raises(ValueError, match='weights'):
        LoFTRMatcher()


def test_missing_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.ckpt'):
        LoFTRMatcher(weights=str(tmp_path / 'nope.ckpt'))


def test_incomplete_weights_are_refused(tmp_path):
    pytest.importorskip('kornia')
    """A checkpoint missing most parameters must not load silently (no strict=False)."""
    path = tmp_path / 'partial.ckpt'
    torch.save({'state_dict': {'matcher.backbone.conv1.weight': torch.zeros(128, 1, 7, 7)}}, path)
    with pytest.raises(RuntimeError, match='missing parameters'):
        LoFTRMatcher(weights=str(path))


def test_runs_with_a_complete_checkpoint(tmp_path):
    """Official-style checkpoint ('state_dict', 'matcher.' prefix) loads strictly and runs.

    The weights are random (no LoFTR weights are available offline), so only the
    output contract is checked, on images whose sizes are not multiples of 8.
    """
    pytest.importorskip('kornia')
    from kornia.feature import LoFTR

    from vision_sparse.testing.synthetic_pairs import procedural_texture

    from .helpers import check_output
    torch.manual_seed(0)
    state = {f'matcher.{k}': v for k, v in LoFTR(pretrained=None).state_dict().items()}
    path = tmp_path / 'random_loftr.ckpt'
    torch.save({'state_dict': state}, path)
    m = LoFTRMatcher(weights=str(path), resize_max=150, match_threshold=0.0, device='cpu')
    img0 = procedural_texture((203, 151), seed=0)
    img1 = procedural_texture((180, 130), seed=1)
    out = m.match(img0, img1)
    n = check_output(out)
    if n:
        assert (out['kpts0'] >= -0.5).all() and (out['kpts0'][:, 0] <= 202.5).all()
        assert (out['kpts1'][:, 1] <= 129.5).all()
