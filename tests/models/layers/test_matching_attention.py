"""Tests of MatchingAttention, its kernels, the wrapper and the read-out."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vision_sparse.models.layers import (MatchingAttention,
                                         MatchingAttentionBlock,
                                         add_matching_attention,
                                         attention_to_matches,
                                         chunked_attention, naive_attention,
                                         sdpa_attention)
from vision_sparse.models.losses import (CorrespondenceLoss, match_accuracy,
                                         matches_from_grid)
from vision_sparse.registry import MODELS


pytestmark = pytest.mark.usefixtures('one_torch_thread')


def _module(dim=16, heads=2, dtype=torch.float64, seed=0, **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault('zero_init_out', False)
    return MatchingAttention(dim, heads, **kwargs).to(dtype)


def _reference(m: MatchingAttention, x: torch.Tensor, num_frames: int):
    """Frame by frame, written independently of the module's batching."""
    bf, n, c = x.shape
    b = bf // num_frames
    out = torch.empty(bf, n, c, dtype=x.dtype)
    for bi in range(b):
        src = x[bi * num_frames + m.source_frame]
        k = m.to_k(src).reshape(n, m.num_heads, -1).transpose(0, 1)
        v = m.to_v(src).reshape(n, m.num_heads, -1).transpose(0, 1)
        for f in range(num_frames):
            q = m.to_q(x[bi * num_frames + f]).reshape(n, m.num_heads,
                                                       -1).transpose(0, 1)
            a = torch.softmax(q @ k.transpose(-1, -2) /
                              math.sqrt(m.head_dim), dim=-1)
            o = (a @ v).transpose(0, 1).reshape(n, -1)
            out[bi * num_frames + f] = m.to_out(o)
    return out


# --------------------------------------------------------------------------
# kernels and implementations
# --------------------------------------------------------------------------
@pytest.mark.parametrize('dtype,atol', [(torch.float64, 1e-10),
                                        (torch.float32, 1e-5)])
def test_kernels_agree(dtype, atol):
    torch.manual_seed(0)
    q = torch.randn(2, 3, 37, 8, dtype=dtype)
    k = torch.randn(2, 3, 19, 8, dtype=dtype)
    v = torch.randn(2, 3, 19, 5, dtype=dtype)
    ref, logits = naive_attention(q, k, v, 0.3)
    assert logits.shape == (2, 3, 37, 19)
    torch.testing.assert_close(sdpa_attention(q, k, v, 0.3), ref, atol=atol,
                               rtol=0)
    for chunk, key_chunk in [(1, None), (10, None), (64, None), (10, 4),
                             (7, 19), (5, 1)]:
        out = chunked_attention(q, k, v, 0.3, chunk, key_chunk)
        torch.testing.assert_close(out, ref, atol=atol, rtol=0)


def test_kernels_reject_bad_shapes():
    q, k = torch.randn(1, 4, 8), torch.randn(1, 5, 8)
    with pytest.raises(ValueError, match='same last dim'):
        naive_attention(q, torch.randn(1, 5, 7), torch.randn(1, 5, 3), 1.0)
    with pytest.raises(ValueError, match='Lk'):
        sdpa_attention(q, k, torch.randn(1, 6, 8), 1.0)
    with pytest.raises(ValueError, match='chunk_size'):
        chunked_attention(q, k, torch.randn(1, 5, 8), 1.0, chunk_size=0)


@pytest.mark.parametrize('num_frames,source_frame', [(1, 0), (2, 0), (2, 1),
                                                     (3, 0), (3, 2)])
@pytest.mark.parametrize('dtype,atol', [(torch.float64, 1e-10),
                                        (torch.float32, 1e-5)])
def test_impls_agree_with_reference(num_frames, source_frame, dtype, atol):
    m = _module(num_frames=num_frames, source_frame=source_frame,
                dtype=dtype, chunk_size=5, key_chunk_size=4)
    x = torch.randn(2 * num_frames, 12, 16, dtype=dtype)
    with torch.no_grad():
        ref = _reference(m, x, num_frames)
        for impl in ('naive', 'sdpa', 'chunked', 'auto'):
            m.attn_impl = impl
            torch.testing.assert_close(m(x), ref, atol=atol, rtol=0)


@pytest.mark.parametrize('impl,ckpt,fast', [('naive', False, False),
                                             ('sdpa', False, False),
                                             ('chunked', False, False),
                                             ('chunked', True, True)])
def test_gradcheck(impl, ckpt, fast):
    m = _module(dim=4, heads=2, attn_impl=impl, chunk_size=4, key_chunk_size=2,
                checkpoint_chunks=ckpt)
    x = torch.randn(4, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: m(t), (x, ), fast_mode=fast)


def test_parameter_grads_agree_across_impls():
    m = _module(chunk_size=4, key_chunk_size=3)
    x = torch.randn(4, 10, 16, dtype=torch.float64)
    grads = {}
    for impl in ('naive', 'sdpa', 'chunked'):
        m.attn_impl = impl
        m.zero_grad()
        (m(x)**2).sum().backward()
        grads[impl] = [p.grad.clone() for p in m.parameters()]
    for impl in ('sdpa', 'chunked'):
        for g, g_ref in zip(grads[impl], grads['naive']):
            torch.testing.assert_close(g, g_ref, atol=1e-10, rtol=0)


# --------------------------------------------------------------------------
# maps
# --------------------------------------------------------------------------
def test_return_attn_shapes_and_values():
    m = _module(num_frames=3, attn_impl='sdpa')
    x = torch.randn(6, 12, 16, dtype=torch.float64)
    out_plain = m(x)
    out, attn = m(x, hw=(3, 4), return_attn=True)
    torch.testing.assert_close(out, out_plain, atol=1e-12, rtol=0)
    assert attn.shape == (2, 3, 12, 12)  # head-averaged by default
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 3, 12,
                                                        dtype=x.dtype))
    _, probs = m(x, return_attn=True, attn_reduce='none')
    assert probs.shape == (2, 3, 2, 12, 12)
    torch.testing.assert_close(probs.mean(2), attn)
    _, logits = m(x, return_attn=True, attn_reduce='none', attn_type='logits')
    torch.testing.assert_close(torch.softmax(logits, -1), probs)
    # frame f of video b: queries of x[b*F+f], keys of the source x[b*F]
    q = m.to_q(x[4]).reshape(12, 2, 8).transpose(0, 1)
    k = m.to_k(x[3]).reshape(12, 2, 8).transpose(0, 1)
    torch.testing.assert_close(logits[1, 1], q @ k.transpose(-1, -2) / 8**0.5)
    _, logits_default = m(x, return_attn=True, attn_type='logits')
    assert torch.equal(logits_default, logits)  # logits default to per head
    with pytest.raises(ValueError, match='logits'):
        m(x, return_attn=True, attn_type='logits', attn_reduce='mean')
    with pytest.raises(ValueError, match='attn_reduce'):
        m(x, return_attn=True, attn_reduce='max')


def test_record_attn():
    m = _module()
    x = torch.randn(4, 6, 16, dtype=torch.float64)
    assert m.last_attn_logits is None
    m.record_attn = True
    out = m(x)
    assert isinstance(out, torch.Tensor)
    assert m.last_attn_logits.shape == (2, 2, 2, 6, 6)


# --------------------------------------------------------------------------
# frames and validation
# --------------------------------------------------------------------------
def test_frames_only_see_source():
    m = _module(num_frames=3, source_frame=1)
    x = torch.randn(3, 8, 16, dtype=torch.float64)
    y = x.clone()
    y[2] += 1.0  # change a non-source frame
    out_x, out_y = m(x), m(y)
    torch.testing.assert_close(out_x[:2], out_y[:2], atol=0, rtol=0)
    assert not torch.allclose(out_x[2], out_y[2])
    z = x.clone()
    z[1] += 1.0  # change the source frame: every frame changes
    out_z = m(z)
    for f in range(3):
        assert not torch.allclose(out_x[f], out_z[f])


def test_single_frame_is_self_attention():
    m = _module(num_frames=1)
    x = torch.randn(3, 7, 16, dtype=torch.float64)
    mha_like = _reference(m, x, 1)
    torch.testing.assert_close(m(x), mha_like, atol=1e-12, rtol=0)


def test_num_frames_override_and_batches_independent():
    m = _module(num_frames=2)
    x = torch.randn(6, 5, 16, dtype=torch.float64)
    out3 = m(x, num_frames=3)
    torch.testing.assert_close(out3, _reference(m, x, 3), atol=1e-12, rtol=0)
    torch.testing.assert_close(m(x[3:], num_frames=3), out3[3:], atol=1e-12,
                               rtol=0)


def test_validation_errors():
    m = _module(num_frames=2)
    with pytest.raises(ValueError, match='3-D'):
        m(torch.randn(4, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match='multiple of num_frames=2'):
        m(torch.randn(3, 5, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match='multiple of num_frames=4'):
        m(torch.randn(6, 5, 16, dtype=torch.float64), num_frames=4)
    with pytest.raises(ValueError, match='C == dim == 16'):
        m(torch.randn(4, 5, 15, dtype=torch.float64))
    with pytest.raises(ValueError, match='hw'):
        m(torch.randn(4, 6, 16, dtype=torch.float64), hw=(2, 2))
    with pytest.raises(ValueError, match='source_frame'):
        _module(num_frames=2, source_frame=2)
    m1 = _module(num_frames=2, source_frame=1)
    with pytest.raises(ValueError, match='source_frame'):
        m1(torch.randn(4, 5, 16, dtype=torch.float64), num_frames=1)
    with pytest.raises(ValueError, match='num_frames'):
        m(torch.randn(4, 5, 16, dtype=torch.float64), num_frames=0)
    with pytest.raises(ValueError, match='num_heads'):
        MatchingAttention(16, 3)
    with pytest.raises(ValueError, match='attn_impl'):
        MatchingAttention(16, 2, attn_impl='flash')


def test_registry_and_zero_init():
    m = MODELS.build(dict(type='MatchingAttention', dim=16, num_heads=4,
                          attn_impl='chunked', chunk_size=3))
    assert isinstance(m, MatchingAttention)
    x = torch.randn(4, 6, 16)
    assert torch.equal(m(x), torch.zeros_like(x))
    nn.init.normal_(m.to_out.weight)
    m.init_weights()  # what mmengine calls after a parent's init_cfg
    assert torch.equal(m(x), torch.zeros_like(x))


# --------------------------------------------------------------------------
# wrapper around an existing self-attention
# --------------------------------------------------------------------------
class DiffusersLikeAttention(nn.Module):
    """Minimal stand-in for diffusers' Attention (to_out = [Linear, Dropout])."""

    def __init__(self, dim: int, heads: int, bias: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(dim, dim, bias=bias)
        self.to_v = nn.Linear(dim, dim, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])

    def forward(self, hidden_states, encoder_hidden_states=None,
                attention_mask=None):
        b, n, c = hidden_states.shape

        def split(t):
            return t.reshape(b, -1, self.heads, c // self.heads).transpose(1, 2)

        ctx = (hidden_states
               if encoder_hidden_states is None else encoder_hidden_states)
        out = F.scaled_dot_product_attention(
            split(self.to_q(hidden_states)), split(self.to_k(ctx)),
            split(self.to_v(ctx)), attn_mask=attention_mask)
        out = out.transpose(1, 2).reshape(b, n, c)
        return self.to_out[1](self.to_out[0](out))


class TinyBlock(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)) + mlp."""

    def __init__(self, attn: nn.Module, dim: int, mha: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = attn
        self.mha = mha
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(),
                                 nn.Linear(2 * dim, dim))

    def forward(self, x):
        h = self.norm(x)
        a = self.attn(h, h, h, need_weights=False)[0] if self.mha else \
            self.attn(h)
        x = x + a
        return x + self.mlp(x)


def _check_wrapped_block(block: TinyBlock, x: torch.Tensor, lin_q):
    with torch.no_grad():
        before = block(x)
    original = block.attn
    block.attn = add_matching_attention(block.attn, num_frames=2)
    assert isinstance(block.attn, MatchingAttentionBlock)
    assert block.attn.self_attn is original
    after = block(x)
    assert torch.equal(before, after)  # bit for bit
    # q/k/v copied from the pretrained attention
    torch.testing.assert_close(block.attn.matching.to_q.weight, lin_q,
                               atol=0, rtol=0)
    # gradients reach the new branch: the zero out-proj gets a non-zero grad
    after.square().sum().backward()
    matching = block.attn.matching
    assert matching.to_out.weight.grad.abs().sum() > 0
    assert matching.to_out.bias.grad.abs().sum() > 0
    # q/k/v are behind the zero projection: exactly zero grad at step 0
    assert torch.count_nonzero(matching.to_q.weight.grad) == 0
    opt = torch.optim.SGD(matching.parameters(), lr=0.1)
    opt.step()
    with torch.no_grad():
        assert not torch.allclose(block(x), before)


def test_wrap_multihead_attention_unchanged_at_step0():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 4, batch_first=True)
    block = TinyBlock(mha, 16, mha=True)
    x = torch.randn(4, 9, 16)
    lin_q = mha.in_proj_weight[:16].detach().clone()
    _check_wrapped_block(block, x, lin_q)
    assert block.attn.matching.num_heads == 4
    assert block.attn.matching.to_q.bias is not None  # mha has biases


def test_wrap_multihead_attention_returns_weights_and_seq_first():
    torch.manual_seed(0)
    for batch_first in (True, False):
        mha = nn.MultiheadAttention(8, 2, batch_first=batch_first)
        x = torch.randn(4, 6, 8)  # (B*F, N, C) or (N, B*F, C)
        ref_out, ref_w = mha(x, x, x)
        wrapped = add_matching_attention(mha)
        out, weights = wrapped(x, x, x)
        assert torch.equal(out, ref_out) and torch.equal(weights, ref_w)
        nn.init.normal_(wrapped.matching.to_out.weight)
        out2, _ = wrapped(x, x, x)
        tokens = x if batch_first else x.transpose(0, 1)
        extra = wrapped.matching(tokens)
        if not batch_first:
            extra = extra.transpose(0, 1)
        torch.testing.assert_close(out2, ref_out + extra)


def test_wrap_diffusers_like_attention_unchanged_at_step0():
    torch.manual_seed(0)
    attn = DiffusersLikeAttention(16, 2)
    block = TinyBlock(attn, 16, mha=False)
    x = torch.randn(6, 8, 16)
    _check_wrapped_block(block, x, attn.to_q.weight.detach().clone())
    assert block.attn.matching.to_q.bias is None
    # keyword call and per-call frame count
    out = block.attn(hidden_states=x, num_frames=3)
    assert out.shape == x.shape


def test_wrapper_from_config_and_errors():
    block = MODELS.build(
        dict(type='MatchingAttentionBlock',
             self_attn=dict(type='MatchingAttention', dim=8, num_heads=2),
             matching=dict(type='MatchingAttention', dim=8, num_heads=2)))
    assert isinstance(block, MatchingAttentionBlock)
    x = torch.randn(4, 3, 8)
    assert torch.equal(block(x), torch.zeros_like(x))
    with pytest.raises(ValueError, match='MultiheadAttention'):
        add_matching_attention(nn.Linear(8, 8))
    with pytest.raises(ValueError, match='matching.dim'):
        MatchingAttentionBlock(nn.MultiheadAttention(8, 2, batch_first=True),
                               MatchingAttention(16, 2))
    with pytest.raises(ValueError, match='multiple of num_frames'):
        add_matching_attention(nn.MultiheadAttention(
            8, 2, batch_first=True))(x[:3], x[:3], x[:3])


# --------------------------------------------------------------------------
# read-out
# --------------------------------------------------------------------------
def test_attention_to_matches_exact_on_synthetic_map():
    h, w = 3, 4
    n = h * w
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    onehot = torch.zeros(2, n, n, dtype=torch.float64)
    onehot[:, torch.arange(n), perm] = 1.0
    expected = torch.stack([perm % w, perm // w], -1).double()
    for mode in ('argmax', 'soft'):
        out = attention_to_matches(onehot, (h, w), mode=mode)
        assert out.shape == (2, n, 2)
        torch.testing.assert_close(out[0], expected, atol=1e-12, rtol=0)
    # logits: argmax identical, soft = expectation under the softmax
    logits = torch.randn(n, n, dtype=torch.float64)
    torch.testing.assert_close(
        attention_to_matches(logits, (h, w), is_logits=True),
        attention_to_matches(torch.softmax(logits, -1), (h, w)))
    # two equal peaks at (0, 0) and (3, 2): soft-argmax is the midpoint
    two = torch.zeros(1, n, dtype=torch.float64)
    two[0, 0] = two[0, n - 1] = 0.5
    torch.testing.assert_close(
        attention_to_matches(two, (h, w), mode='soft'),
        torch.tensor([[1.5, 1.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match='hw'):
        attention_to_matches(onehot, (4, 4))
    with pytest.raises(ValueError, match='mode'):
        attention_to_matches(onehot, (h, w), mode='max')


# --------------------------------------------------------------------------
# learning correspondences
# --------------------------------------------------------------------------
def _synthetic_pair(size: int = 128, seed: int = 0):
    """Multi-scale noise texture and a rotated/scaled/sine-warped copy."""
    g = torch.Generator().manual_seed(seed)
    src = torch.zeros(1, 3, size, size)
    for s in (4, 8, 16, 32):
        noise = torch.randn(1, 3, size // s, size // s, generator=g)
        src += F.interpolate(noise, size=(size, size), mode='bicubic',
                             align_corners=False) / s**0.3
    lin = torch.linspace(-1 + 1 / size, 1 - 1 / size, size)
    ys, xs = torch.meshgrid(lin, lin, indexing='ij')
    base = torch.stack([xs, ys], -1)[None]
    th, sc = 0.15, 1.05
    rot = torch.tensor([[sc * math.cos(th), -sc * math.sin(th)],
                        [sc * math.sin(th), sc * math.cos(th)]])
    grid = base @ rot.T + torch.tensor([0.05, -0.08])
    grid = grid + 0.04 * torch.sin(base.flip(-1) * math.pi * 1.5)
    warped = F.grid_sample(src, grid, align_corners=False)
    return src, warped, grid


def test_training_recovers_correspondences():
    torch.manual_seed(0)
    src, warped, grid = _synthetic_pair()
    hw = (16, 16)
    target, valid, _ = matches_from_grid(grid, hw)
    assert valid.float().mean() > 0.8
    embed = nn.Conv2d(3, 64, 16, stride=8, padding=4)  # fixed random
    with torch.no_grad():
        tokens = embed(torch.cat([src, warped])).flatten(2).transpose(1, 2)
        tokens = F.layer_norm(tokens, (64, ))  # (B*F = 2, N = 256, 64)
    m = MatchingAttention(64, 2, num_frames=2)
    loss_fn = CorrespondenceLoss()
    opt = torch.optim.Adam(
        list(m.to_q.parameters()) + list(m.to_k.parameters()), lr=1e-2)
    for _ in range(100):
        _, logits = m(tokens, hw=hw, return_attn=True, attn_type='logits',
                      attn_reduce='none')
        loss = loss_fn(logits[:, 1], target, valid)  # edited -> source
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        _, attn = m(tokens, return_attn=True)  # (1, 2, N, N), head mean
    pred = attention_to_matches(attn[:, 1], hw)
    acc = match_accuracy(pred, target, valid, hw).item()
    assert acc >= 0.9, acc
