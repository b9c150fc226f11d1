"""GMM-EM recovers a known 2-D mixture; density and sampling are consistent."""
import numpy as np
import pytest

from vision_sparse.models.area_matchers import fit_gmm_em, gmm_density, sample_gmm
from vision_sparse.models.area_matchers.dmesa import density_box

W = np.array([0.5, 0.3, 0.2])
MU = np.array([[100.0, 100.0], [300.0, 150.0], [200.0, 400.0]])
COV = np.array([[[400, 100], [100, 200]], [[100, 0], [0, 900]], [[250, -50], [-50, 250]]],
               float)


def test_em_recovers_known_mixture():
    rng = np.random.default_rng(0)
    comp = rng.choice(3, 20000, p=W)
    z = rng.standard_normal((20000, 2))
    x = MU[comp] + np.einsum('nij,nj->ni', np.linalg.cholesky(COV)[comp], z)
    init_mu = MU + rng.normal(0, 25, MU.shape)
    res = fit_gmm_em(x, np.ones(3) / 3, init_mu, np.tile(np.eye(2) * 300, (3, 1, 1)),
                     max_iters=100, tol=1e-3)
    assert res['converged']
    np.testing.assert_allclose(res['weights'], W, atol=0.01)
    np.testing.assert_allclose(res['means'], MU, atol=1.0)
    np.testing.assert_allclose(res['covs'], COV, rtol=0.1, atol=15)


def test_em_stops_early_and_reports_iterations():
    rng = np.random.default_rng(1)
    x = rng.multivariate_normal([0, 0], np.eye(2), 2000)
    res = fit_gmm_em(x, [1.0], [[0.0, 0.0]], [np.eye(2)], max_iters=50, tol=1e-3)
    assert res['converged'] and res['iterations'] < 50
    one = fit_gmm_em(x, [1.0], [[5.0, 5.0]], [np.eye(2)], max_iters=1, tol=0.0)
    assert one['iterations'] == 1 and not one['converged']
    # a single Gaussian's EM step is the sample mean and covariance
    np.testing.assert_allclose(one['means'][0], x.mean(0), atol=1e-9)
    np.testing.assert_allclose(one['covs'][0], np.cov(x.T, bias=True) + 1e-3 * np.eye(2),
                               atol=1e-9)


def test_density_integrates_to_one_and_sampling_matches():
    ys, xs = np.mgrid[0:500:2.0, -100:500:2.0]
    pts = np.stack([xs.ravel() + 1, ys.ravel() + 1], 1)
    dens = gmm_density(pts, W, MU, COV)
    assert dens.sum() * 4.0 == pytest.approx(1.0, abs=2e-3)
    s = sample_gmm(5000, MU[:1], COV[:1], np.random.default_rng(2))
    np.testing.assert_allclose(s.mean(0), MU[0], atol=1.0)
    np.testing.assert_allclose(np.cov(s.T), COV[0], rtol=0.1)


def test_bad_mixtures_raise():
    with pytest.raises(ValueError, match='agree'):
        gmm_density(np.zeros((1, 2)), [1.0, 1.0], [[0, 0]], [np.eye(2)])
    with pytest.raises(ValueError, match='positive definite'):
        gmm_density(np.zeros((1, 2)), [1.0], [[0, 0]], [-np.eye(2)])
    empty = fit_gmm_em(np.zeros((0, 2)), [1.0], [[0, 0]], [np.eye(2)])
    assert empty['iterations'] == 0


def test_density_box_picks_the_heavy_region():
    d = np.zeros((50, 80))
    d[10:20, 10:30] = 1.0          # heavy block
    d[40:42, 70:72] = 2.0          # light but peaky speck
    box, mass = density_box(d, ratio=0.1, stride=4.0)
    np.testing.assert_allclose(box, [40, 40, 120, 80])
    assert mass == pytest.approx(200 / 208)
    assert density_box(np.zeros((5, 5)), 0.1, 1.0) is None
