import math

import pytest
import torch

from vision_sparse.models.task_modules import PSCCoder
from vision_sparse.registry import TASK_UTILS


def _wrap_pi(d):
    return (d + math.pi / 2) % math.pi - math.pi / 2


def test_round_trip_le90():
    coder = PSCCoder(num_step=3)
    theta = torch.linspace(-math.pi / 2, math.pi / 2 - 1e-4, 721, dtype=torch.float64)
    codes = coder.encode(theta)
    assert codes.shape == (721, 3)
    assert torch.allclose(coder.decode(codes), theta, atol=1e-9)


def test_pi_periodic_and_continuous():
    coder = PSCCoder(4)
    theta = torch.tensor([-1.2, 0.3, 1.5], dtype=torch.float64)
    assert torch.allclose(coder.encode(theta), coder.encode(theta + math.pi), atol=1e-12)
    # continuity across the le90 boundary: -pi/2 and pi/2 - eps have nearly equal codes
    a = coder.encode(torch.tensor([-math.pi / 2, math.pi / 2 - 1e-6], dtype=torch.float64))
    assert (a[0] - a[1]).abs().max() < 1e-5
    # decoded angles of wrapped inputs land in [-pi/2, pi/2)
    dec = coder.decode(coder.encode(theta + 2.0))
    assert torch.allclose(_wrap_pi(dec - theta - 2.0), torch.zeros(3, dtype=torch.float64), atol=1e-9)
    assert bool(((dec >= -math.pi / 2) & (dec < math.pi / 2)).all())


def test_decode_scale_invariant_and_noise_tolerant():
    coder = TASK_UTILS.build(dict(type='PSCCoder', num_step=3))
    torch.manual_seed(0)
    theta = (torch.rand(200, dtype=torch.float64) - 0.5) * math.pi
    codes = coder.encode(theta)
    assert torch.allclose(coder.decode(3.0 * codes), theta, atol=1e-9)
    noisy = codes + 0.05 * torch.randn_like(codes)
    err = _wrap_pi(coder.decode(noisy) - theta).abs()
    assert err.max() < math.radians(5)
    assert coder.decode(codes, keepdim=True).shape == (200, 1)


@pytest.mark.parametrize('bad', [2, 3.0, True])
def test_bad_num_step(bad):
    with pytest.raises(ValueError, match='num_step'):
        PSCCoder(bad)


def test_bad_codes_shape():
    with pytest.raises(ValueError, match=r'\(\.\.\., 3\)'):
        PSCCoder(3).decode(torch.zeros(4, 2))
