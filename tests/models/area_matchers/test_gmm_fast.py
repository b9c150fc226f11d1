"""The fast GMM paths DMESA uses equal plain references: the truncated grid
density equals the exact point-wise density, the vectorised EM equals a
textbook EM, and DMESA gives the same area pairs with either."""
import numpy as np
import pytest

from vision_sparse.models.area_matchers import DMESA, dmesa as dmesa_module
from vision_sparse.models.area_matchers.gmm import (fit_gmm_em, gmm_density,
                                                    gmm_grid_density)
from vision_sparse.models.matchers import SIFTMatcher
from vision_sparse.structures.areas import AreaSet
from vision_sparse.testing.synthetic_pairs import make_homography_pair, procedural_texture


def _random_mixture(rng, k, lo, hi, std_range=(2.0, 40.0)):
    means = rng.uniform(lo, hi, (k, 2))
    sx, sy = rng.uniform(*std_range, (2, k))
    rho = rng.uniform(-0.9, 0.9, k)
    covs = np.empty((k, 2, 2))
    covs[:, 0, 0], covs[:, 1, 1] = sx * sx, sy * sy
    covs[:, 0, 1] = covs[:, 1, 0] = rho * sx * sy
    w = rng.uniform(0.1, 1.0, k)
    return w / w.sum(), means, covs


def _exact_grid(w, m, c, origin, step, shape):
    gy, gx = np.mgrid[0:shape[0], 0:shape[1]]
    pts = np.stack([origin[0] + gx.ravel() * step, origin[1] + gy.ravel() * step], 1)
    return gmm_density(pts, w, m, c).reshape(shape)


@pytest.mark.parametrize('k, step, shape, origin, stds', [
    (256, 4.0, (120, 160), (2.0, 2.0), (2.0, 40.0)),     # DMESA-like, many components
    (5, 1.5, (37, 23), (-10.0, 7.0), (1.0, 8.0)),        # odd grid, means partly off-grid
    (3, 2.0, (4, 6), (0.0, 0.0), (50.0, 200.0)),         # components much wider than the grid
    (4, 8.0, (1, 1), (100.0, 100.0), (5.0, 30.0)),       # one cell
])
def test_grid_density_equals_point_density(k, step, shape, origin, stds):
    rng = np.random.default_rng(k)
    span = np.array([shape[1], shape[0]]) * step
    w, m, c = _random_mixture(rng, k, np.array(origin) - 0.2 * span,
                              np.array(origin) + 1.2 * span, stds)
    ref = _exact_grid(w, m, c, origin, step, shape)
    fast = gmm_grid_density(w, m, c, origin, step, shape)
    assert fast.shape == ref.shape
    # documented bound: K * exp(-radius^2 / 2) of the maximum (radius 7)
    np.testing.assert_allclose(fast, ref, rtol=0, atol=k * np.exp(-24.5) * ref.max())
    # memory chunks (a few components at a time) give the same sum
    np.testing.assert_allclose(gmm_grid_density(w, m, c, origin, step, shape, chunk=300), fast,
                               rtol=1e-12, atol=1e-15 * fast.max())
    # an isotropic component far from everything is exact to rounding
    iso = gmm_grid_density([1.0], [[20.0, 30.0]], [np.eye(2) * 36.0], (0.5, 0.5), 1.0,
                           (60, 50))
    np.testing.assert_allclose(iso, _exact_grid([1.0], [[20.0, 30.0]], [np.eye(2) * 36.0],
                                                (0.5, 0.5), 1.0, (60, 50)),
                               rtol=0, atol=1e-9 * iso.max())


def test_grid_density_edge_cases():
    assert gmm_grid_density(np.zeros(0), np.zeros((0, 2)), np.zeros((0, 2, 2)), (0, 0), 1.0,
                            (3, 4)).shape == (3, 4)
    far = gmm_grid_density([1.0], [[1e4, 1e4]], [np.eye(2)], (0, 0), 1.0, (5, 5))
    assert far.shape == (5, 5) and not far.any()
    with pytest.raises(ValueError, match='step'):
        gmm_grid_density([1.0], [[0, 0]], [np.eye(2)], (0, 0), 0.0, (5, 5))
    with pytest.raises(ValueError, match='positive definite'):
        gmm_grid_density([1.0], [[0, 0]], [-np.eye(2)], (0, 0), 1.0, (5, 5))


def _reference_em(x, w, m, c, max_iters, tol, reg, min_weight=1e-8):
    """Textbook EM: per-component densities, responsibilities, weighted
    moments (no tricks); same stopping rule and pruning as fit_gmm_em."""
    w = np.asarray(w, float) / np.sum(w)
    m, c = np.asarray(m, float).copy(), np.asarray(c, float).copy()
    it = 0
    for it in range(1, max_iters + 1):
        dens = np.stack([w[k] * gmm_density(x, [1.0], m[k:k + 1], c[k:k + 1])
                         for k in range(len(w))], 1)
        r = dens / dens.sum(1, keepdims=True)
        nk = r.sum(0)
        keep = nk / len(x) >= min_weight
        r, nk, w, m, c = r[:, keep], nk[keep], w[keep], m[keep], c[keep]
        w_new = nk / nk.sum()
        m_new = (r.T @ x) / nk[:, None]
        d = x[:, None, :] - m_new[None]  # (M, K, 2)
        c_new = np.einsum('mk,mki,mkj->kij', r, d, d) / nk[:, None, None] + reg * np.eye(2)
        change = max(np.linalg.norm(w_new - w), np.linalg.norm(m_new - m),
                     np.linalg.norm(c_new - c))
        w, m, c = w_new, m_new, c_new
        if change < tol:
            break
    return w, m, c, it


def test_em_equals_textbook_em():
    rng = np.random.default_rng(5)
    # DMESA-like: components at matches ~ 600 px from the origin, samples
    # drawn around a subset of them
    w, m, c = _random_mixture(rng, 40, 300.0, 900.0, (8.0, 30.0))
    c[:, 0, 1] = c[:, 1, 0] = 0.0
    x = m[rng.choice(40, 600)] + rng.normal(0, 12.0, (600, 2))
    for iters, tol in ((5, 1e-3), (30, 1e-6)):
        res = fit_gmm_em(x, w, m, c, max_iters=iters, tol=tol, reg=0.2)
        rw, rm, rc, rit = _reference_em(x, w, m, c, iters, tol, 0.2)
        assert res['iterations'] == rit
        np.testing.assert_allclose(res['weights'], rw, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(res['means'], rm, rtol=1e-9)
        np.testing.assert_allclose(res['covs'], rc, rtol=1e-7, atol=1e-7)


def test_dmesa_same_area_pairs_with_exact_density_and_em(monkeypatch):
    """DMESA with the fast density and EM == DMESA with the exact point-wise
    density and the textbook EM (identical boxes, scores to 1e-9)."""
    image = procedural_texture((640, 480), seed=4)
    pair = make_homography_pair(image, seed=2, max_rotation_deg=10, scale_range=(0.9, 1.1),
                                perspective=0.04, max_translation=0.05)
    h, w = image.shape[:2]
    boxes = np.array([[x, y, x + 190, y + 140] for y in (20, 170, 320) for x in (20, 230, 430)],
                     float)
    data = dict(image0=pair['image0'], image1=pair['image1'], areas0=AreaSet(boxes, (h, w)),
                areas1=AreaSet(boxes, (h, w)))
    dmesa = DMESA(coarse_matcher=SIFTMatcher(ratio=0.9))
    fast = dmesa(data)
    assert len(fast['boxes0']) >= 4

    def exact_em(x, weights, means, covs, max_iters, tol, reg):
        rw, rm, rc, it = _reference_em(x, weights, means, covs, max_iters, tol, reg)
        return dict(weights=rw, means=rm, covs=rc, iterations=it)

    def exact_grid(weights, means, covs, origin, step, shape):
        return _exact_grid(weights, means, covs, origin, step, shape)

    monkeypatch.setattr(dmesa_module, 'fit_gmm_em', exact_em)
    monkeypatch.setattr(dmesa_module, 'gmm_grid_density', exact_grid)
    ref = dmesa(data)
    np.testing.assert_array_equal(fast['boxes0'], ref['boxes0'])
    np.testing.assert_array_equal(fast['boxes1'], ref['boxes1'])
    np.testing.assert_allclose(fast['scores'], ref['scores'], rtol=1e-9)
