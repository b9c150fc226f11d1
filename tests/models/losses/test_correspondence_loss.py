"""Tests of CorrespondenceLoss and the ground-truth helpers."""
import math

import pytest
import torch
import torch.nn.functional as F

from vision_sparse.models.layers import MatchingAttention
from vision_sparse.models.losses import (CorrespondenceLoss,
                                         correspondence_loss, match_accuracy,
                                         matches_from_grid)
from vision_sparse.registry import MODELS


pytestmark = pytest.mark.usefixtures('one_torch_thread')


def test_equals_hand_computation():
    logits = torch.tensor([[[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]]],
                          dtype=torch.float64)  # (B=1, Nq=2, Nk=3)
    target = torch.tensor([[2, 0]])
    expected = -(math.log(math.exp(2) / (1 + math.e + math.exp(2))) +
                 math.log(math.exp(3) / (math.exp(3) + 2))) / 2
    loss = MODELS.build(dict(type='CorrespondenceLoss'))(logits, target)
    assert abs(loss.item() - expected) < 1e-12
    # the same from probabilities and log-probabilities
    probs = torch.softmax(logits, -1)
    assert abs(correspondence_loss(probs, target, input_type='probs').item() -
               expected) < 1e-12
    assert abs(correspondence_loss(probs.log(), target,
                                   input_type='log_probs').item() -
               expected) < 1e-12


def test_valid_mask_negative_targets_and_reductions():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7, dtype=torch.float64)
    target = torch.randint(0, 7, (2, 5))
    valid = torch.rand(2, 5) > 0.4
    target_neg = torch.where(valid, target, torch.full_like(target, -1))
    per_token = -torch.log_softmax(logits, -1).gather(
        -1, target[..., None]).squeeze(-1)
    expected = per_token[valid].mean()
    loss_fn = CorrespondenceLoss()
    torch.testing.assert_close(loss_fn(logits, target, valid), expected)
    torch.testing.assert_close(loss_fn(logits, target_neg), expected)
    none = loss_fn(logits, target, valid, reduction_override='none')
    assert none.shape == (2, 5)
    assert torch.equal(none[~valid], torch.zeros_like(none[~valid]))
    torch.testing.assert_close(none[valid], per_token[valid])
    torch.testing.assert_close(
        CorrespondenceLoss(reduction='sum', loss_weight=2.0)(logits, target,
                                                             valid),
        2 * per_token[valid].sum())
    # nothing valid: 0, and still differentiable
    logits.requires_grad_(True)
    zero = loss_fn(logits, target, torch.zeros(2, 5, dtype=torch.bool))
    zero.backward()
    assert zero.item() == 0.0


def test_heads_and_stability():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 4, 6, dtype=torch.float64)  # 3 heads
    target = torch.randint(0, 6, (1, 4))
    probs = torch.softmax(logits, -1)
    picked = probs.gather(-1, target[:, None, :, None].expand(1, 3, 4, 1))
    picked = picked.squeeze(-1)  # (1, 3, 4)
    mean_prob = -picked.mean(1).log().mean()
    mean_loss = -picked.log().mean()
    torch.testing.assert_close(correspondence_loss(logits, target), mean_prob)
    torch.testing.assert_close(
        correspondence_loss(logits, target, head_reduce='mean_loss'),
        mean_loss)
    # huge logits: finite loss and gradient (no softmax underflow to log 0)
    big = torch.tensor([[[1000.0, -1000.0, 0.0]]], requires_grad=True)
    loss = correspondence_loss(big, torch.tensor([[1]]))
    loss.backward()
    assert torch.isfinite(loss) and abs(loss.item() - 2000.0) < 1e-3
    assert torch.isfinite(big.grad).all()


def test_validation():
    logits = torch.randn(1, 4, 6)
    with pytest.raises(ValueError, match='target'):
        correspondence_loss(logits, torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match='< Nk=6'):
        correspondence_loss(logits, torch.full((1, 4), 6))
    with pytest.raises(ValueError, match='valid'):
        correspondence_loss(logits, torch.zeros(1, 4, dtype=torch.long),
                            torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match='pred'):
        correspondence_loss(torch.randn(4, 6),
                            torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match='input_type'):
        CorrespondenceLoss(input_type='softmax')


def test_frame1_to_source_from_matching_attention():
    torch.manual_seed(0)
    m = MatchingAttention(8, 2, num_frames=2).double()
    x = torch.randn(2, 6, 8, dtype=torch.float64, requires_grad=True)
    _, logits = m(x, return_attn=True, attn_type='logits', attn_reduce='none')
    target = torch.arange(6)[None]
    loss = CorrespondenceLoss()(logits[:, 1], target)
    _, attn = m(x, return_attn=True)  # head-averaged probabilities
    expected = -attn[0, 1, torch.arange(6), target[0]].log().mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert m.to_q.weight.grad.abs().sum() > 0
    assert m.to_k.weight.grad.abs().sum() > 0


def test_matches_from_grid_translation():
    # edited(p) = source(p + 8 px): one token to the right, on a 4 x 4 grid
    size, p = 32, 8
    lin = torch.linspace(-1 + 1 / size, 1 - 1 / size, size)
    ys, xs = torch.meshgrid(lin, lin, indexing='ij')
    grid = torch.stack([xs + 2 * p / size, ys], -1)[None]
    src = torch.randn(1, 1, size, size)
    warped = F.grid_sample(src, grid, align_corners=False)
    torch.testing.assert_close(warped[..., :-p], src[..., p:])
    target, valid, coords = matches_from_grid(grid, (4, 4))
    rows, cols = torch.meshgrid(torch.arange(4), torch.arange(4),
                                indexing='ij')
    torch.testing.assert_close(
        coords[0], torch.stack([cols + 1, rows], -1).reshape(16, 2).float())
    assert torch.equal(valid[0], (cols < 3).reshape(-1))
    assert torch.equal(target[0][valid[0]],
                       (rows * 4 + cols + 1).reshape(-1)[valid[0]])
    assert (target[0][~valid[0]] == -1).all()
    # align_corners=True convention: the identity grid maps tokens to tokens
    ident = torch.stack(torch.meshgrid(torch.linspace(-1, 1, size),
                                       torch.linspace(-1, 1, size),
                                       indexing='xy'), -1)[None]
    t2, v2, c2 = matches_from_grid(ident, (4, 4), align_corners=True)
    assert v2.all() and torch.equal(t2[0], torch.arange(16))
    # accuracy: all right, then one token off (still within 1), then 2 off
    pred = coords[0].clone()
    assert match_accuracy(pred, target[0], valid[0], (4, 4)).item() == 1.0
    pred[:, 0] += 1
    assert match_accuracy(pred, target[0], valid[0], (4, 4)).item() == 1.0
    pred[:, 0] += 1
    assert match_accuracy(pred, target[0], valid[0], (4, 4)).item() == 0.0
