"""Mutual nearest neighbours (shared by XFeat's matcher and FaVoR's tracker)."""
import pytest
import torch

from vision_sparse.models.matchers.nn_matching import mutual_nn, mutual_nn_match
from vision_sparse.models.relocalizers import mutual_nn_match as tracker_mnn


def test_mutual_nn_known_permutation_and_threshold():
    gen = torch.Generator().manual_seed(0)
    d0 = torch.nn.functional.normalize(torch.randn(30, 8, generator=gen), dim=-1)
    perm = torch.randperm(30, generator=gen)
    i0, i1, sim = mutual_nn(d0, d0[perm])
    assert torch.equal(i0, torch.arange(30)) and torch.equal(perm[i1], i0)
    assert torch.allclose(sim, torch.ones(30), atol=1e-5)
    # one extra descriptor of desc1 near d0[0] but less similar than its copy: not mutual
    d1 = torch.cat([d0, torch.nn.functional.normalize(d0[:1] + 0.3, dim=-1)])
    i0, i1, _ = mutual_nn(d0, d1)
    assert torch.equal(i1, torch.arange(30))
    assert len(mutual_nn(d0, d0, threshold=1.5)[0]) == 0
    assert len(mutual_nn(d0[:0], d0)[0]) == 0 and len(mutual_nn(d0, d0[:0])[0]) == 0
    with pytest.raises(ValueError, match='desc0'):
        mutual_nn(d0, d0[:, :4])


def test_tracker_uses_the_same_function():
    assert tracker_mnn is mutual_nn_match
    d = torch.eye(4)
    m = mutual_nn_match(d, d.flip(0), 0.5)
    assert m.shape == (4, 3) and torch.equal(m[:, 1], torch.tensor([3.0, 2, 1, 0]))


def _mutual_nn_argmax(d0, d1):
    """Reference: argmax both ways on the similarity matrix."""
    sim = d0 @ d1.T
    b01, b10 = sim.argmax(1), sim.argmax(0)
    i0 = torch.arange(len(d0))
    keep = b10[b01] == i0
    return i0[keep], b01[keep], sim[i0, b01][keep]


def test_mutual_nn_equals_argmax_reference_with_ties():
    gen = torch.Generator().manual_seed(1)
    d0 = torch.nn.functional.normalize(torch.randn(700, 64, generator=gen), dim=-1)
    d1 = torch.nn.functional.normalize(torch.randn(900, 64, generator=gen), dim=-1)
    d1[500:] = d1[:400]  # exact duplicate columns: ties go to the lowest index
    d0[600:] = d0[:100]  # and duplicate rows
    got, ref = mutual_nn(d0, d1), _mutual_nn_argmax(d0, d1)
    for g, r in zip(got, ref):
        assert torch.equal(g, r)
    assert (got[1] < 500).all() and (got[0] < 600).all()
