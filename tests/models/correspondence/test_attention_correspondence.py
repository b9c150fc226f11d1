"""MatchingAttentionCorrespondence: loss / predict / tensor modes on synthetic warps."""
import pytest
import torch
from mmengine.dataset import pseudo_collate

from vision_sparse.datasets import SyntheticWarpPairsDataset
from vision_sparse.models.correspondence import MatchingAttentionCorrespondence, tokens_to_pixels
from vision_sparse.registry import MODELS

pytestmark = pytest.mark.usefixtures('one_torch_thread')

MODEL = dict(type='MatchingAttentionCorrespondence',
             embedding=dict(type='RandomPatchEmbedding', patch_size=8, dim=32, seed=0),
             num_heads=2)


def _batch(n=2, size=(64, 96), seed=0):
    ds = SyntheticWarpPairsDataset(num_pairs=n, image_size=size, seed=seed)
    return pseudo_collate([ds[i] for i in range(n)])


def test_loss_decreases_and_only_q_k_train():
    torch.manual_seed(0)
    model = MODELS.build(MODEL)
    batch = _batch()
    v_before = model.attention.to_v.weight.clone()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(20):
        out = model(**batch, mode='loss')
        assert set(out) == {'loss_corr', 'acc_1tok'} and 0 <= out['acc_1tok'] <= 1
        opt.zero_grad()
        out['loss_corr'].backward()
        opt.step()
        losses.append(out['loss_corr'].item())
    assert losses[-1] < 0.7 * losses[0], losses
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {'attention.to_q.weight', 'attention.to_k.weight'}
    torch.testing.assert_close(model.attention.to_v.weight, v_before, rtol=0, atol=0)


def test_predict_outputs_and_ground_truth():
    torch.manual_seed(0)
    model = MODELS.build(MODEL).eval()
    batch = _batch(n=3)
    results = model(**batch, mode='predict')
    assert len(results) == 3
    n = 8 * 12
    for res in results:
        assert res['pred_xy'].shape == (n, 2) and res['soft_xy'].shape == (n, 2)
        assert res['scores'].shape == (n, ) and (res['scores'] > 0).all()
        assert (res['scores'] <= 1).all() and res['token_hw'].tolist() == [8, 12]
        torch.testing.assert_close(res['pred_xy'], tokens_to_pixels(res['pred_tokens'], 8))
        assert res['gt_valid'].dtype == torch.bool and res['gt_valid'].float().mean() > 0.5
        torch.testing.assert_close(res['gt_xy'], tokens_to_pixels(res['gt_tokens'], 8))
    # the first target token's centre is pixel (3.5, 3.5); the last one (91.5, 59.5)
    assert results[0]['query_xy'][0].tolist() == [3.5, 3.5]
    assert results[0]['query_xy'][-1].tolist() == [91.5, 59.5]
    bare = model(batch['inputs'], mode='predict')
    assert 'gt_xy' not in bare[0]
    torch.testing.assert_close(bare[1]['pred_xy'], results[1]['pred_xy'])
    logits = model(torch.stack(batch['inputs']), mode='tensor')
    assert logits.shape == (3, 2, n, n)


def test_identity_pair_ground_truth_is_every_token_itself():
    model = MatchingAttentionCorrespondence(
        embedding=dict(type='RandomPatchEmbedding', patch_size=8, dim=8))
    frames = torch.rand(1, 2, 3, 16, 24)
    ys, xs = torch.meshgrid(torch.linspace(-1 + 1 / 16, 1 - 1 / 16, 16),
                            torch.linspace(-1 + 1 / 24, 1 - 1 / 24, 24), indexing='ij')
    grid = torch.stack([xs, ys], -1)
    res = model(frames, [dict(grid=grid)], mode='predict')[0]
    assert res['gt_valid'].all()
    torch.testing.assert_close(res['gt_xy'], res['query_xy'])


def test_bad_inputs():
    model = MODELS.build(MODEL)
    with pytest.raises(ValueError, match=r'\(B, 2, 3, H, W\)'):
        model(torch.rand(2, 3, 64, 96), mode='predict')
    with pytest.raises(ValueError, match="'grid'"):
        model(torch.rand(1, 2, 3, 64, 96), None, mode='loss')
    with pytest.raises(ValueError, match='mode must be'):
        model(torch.rand(1, 2, 3, 64, 96), mode='other')
    with pytest.raises(ValueError, match='multiples of patch_size'):
        model(torch.rand(1, 2, 3, 60, 96), mode='tensor')
