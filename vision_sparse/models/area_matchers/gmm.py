"""2-D Gaussian mixtures: Expectation-Maximisation, density rendering,
sampling. Numpy, full covariances, used by DMESA."""
from typing import Dict, Optional, Tuple

import numpy as np

__all__ = ['fit_gmm_em', 'gmm_density', 'sample_gmm']

_LOG2PI = np.log(2.0 * np.pi)


def _check(weights, means, covs) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = np.asarray(weights, np.float64).reshape(-1)
    m = np.asarray(means, np.float64).reshape(-1, 2)
    c = np.asarray(covs, np.float64).reshape(-1, 2, 2)
    if not (len(w) == len(m) == len(c)):
        raise ValueError('weights (K,), means (K, 2) and covs (K, 2, 2) must '
                         f'agree, got {w.shape}, {m.shape}, {c.shape}')
    if len(w) and (w.min() < 0 or not np.isfinite(w).all()):
        raise ValueError('weights must be finite and >= 0')
    det = c[:, 0, 0] * c[:, 1, 1] - c[:, 0, 1] * c[:, 1, 0]
    if len(c) and ((c[:, 0, 0] <= 0).any() or (det <= 0).any()):
        raise ValueError('covs must be symmetric positive definite')
    return w, m, c


def _log_component(x: np.ndarray, means: np.ndarray, covs: np.ndarray
                   ) -> np.ndarray:
    """``(M, K)`` log N(x_m | mean_k, cov_k)."""
    a, b, d = covs[:, 0, 0], covs[:, 0, 1], covs[:, 1, 1]
    det = a * d - b * b
    dx = x[:, None, 0] - means[None, :, 0]
    dy = x[:, None, 1] - means[None, :, 1]
    maha = (d * dx * dx - 2 * b * dx * dy + a * dy * dy) / det
    return -0.5 * maha - 0.5 * np.log(det) - _LOG2PI


def gmm_density(points, weights, means, covs, chunk: int = 65536) -> np.ndarray:
    """Mixture density ``sum_k w_k N(p | mu_k, Sigma_k)`` at ``(M, 2)`` points.

    Returns:
        np.ndarray: ``(M,)`` densities (per px^2 when points are px).
    """
    w, m, c = _check(weights, means, covs)
    p = np.asarray(points, np.float64).reshape(-1, 2)
    out = np.zeros(len(p))
    if len(w) == 0:
        return out
    for s in range(0, len(p), chunk):
        lc = _log_component(p[s:s + chunk], m, c)
        out[s:s + chunk] = np.exp(lc) @ w
    return out


def sample_gmm(n_per_component: int, means, covs,
               rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """``n_per_component`` samples around every component (equal counts, as
    DMESA draws them around every match). Returns ``(K * n, 2)``."""
    rng = np.random.default_rng(0) if rng is None else rng
    m = np.asarray(means, np.float64).reshape(-1, 2)
    c = np.asarray(covs, np.float64).reshape(-1, 2, 2)
    if len(m) == 0:
        return np.zeros((0, 2))
    chol = np.linalg.cholesky(c)  # (K, 2, 2)
    z = rng.standard_normal((len(m), int(n_per_component), 2))
    return (m[:, None, :] + np.einsum('kij,knj->kni', chol, z)).reshape(-1, 2)


def fit_gmm_em(x, weights, means, covs, max_iters: int = 10,
               tol: float = 1e-3, reg: float = 1e-3,
               min_weight: float = 1e-8) -> Dict:
    """Expectation-Maximisation for a 2-D Gaussian mixture from an initial one.

    Stops after ``max_iters`` iterations or when the largest change of the
    weights, means and covariances (each measured as the Frobenius norm of
    the difference, as in the DMESA code) is below ``tol``. Components whose
    weight falls below ``min_weight`` are removed.

    Args:
        x: ``(M, 2)`` samples.
        weights: ``(K,)`` initial weights (normalised internally).
        means: ``(K, 2)`` initial means.
        covs: ``(K, 2, 2)`` initial covariances.
        max_iters (int): iteration cap.
        tol (float): convergence threshold.
        reg (float): added to the covariance diagonals (keeps them invertible).
        min_weight (float): weight below which a component is dropped.

    Returns:
        dict: ``weights (K',)``, ``means (K', 2)``, ``covs (K', 2, 2)``,
        ``iterations`` (int), ``converged`` (bool), ``log_likelihood``
        (mean per sample, last iteration).
    """
    w, m, c = _check(weights, means, covs)
    x = np.asarray(x, np.float64).reshape(-1, 2)
    if len(w) == 0 or len(x) == 0:
        return dict(weights=w, means=m, covs=c, iterations=0, converged=False,
                    log_likelihood=float('nan'))
    w = w / max(w.sum(), 1e-300)
    eye = np.eye(2) * reg
    centre = x.mean(0)
    xc = x - centre  # moments of centred samples: no cancellation at large pixel values
    converged, ll, it = False, float('nan'), 0
    for it in range(1, int(max_iters) + 1):
        # E-step: responsibilities in log space
        lp = _log_component(x, m, c) + np.log(np.maximum(w, 1e-300))[None]
        mx = lp.max(1, keepdims=True)
        lse = mx[:, 0] + np.log(np.exp(lp - mx).sum(1))
        ll = float(lse.mean())
        r = np.exp(lp - lse[:, None])  # (M, K)
        # M-step
        nk = r.sum(0)
        keep = nk / len(x) >= min_weight
        if not keep.all():
            r, nk, w, m, c = r[:, keep], nk[keep], w[keep], m[keep], c[keep]
        w_new = nk / nk.sum()
        m_new = (r.T @ xc) / nk[:, None]
        # covariances from the weighted second moments of the centred samples
        # (E[x x^T] - mu mu^T): three (K, M) x (M,) products instead of an
        # (M, K, 2, 2) tensor
        sxx = (r.T @ (xc[:, 0] * xc[:, 0])) / nk
        sxy = (r.T @ (xc[:, 0] * xc[:, 1])) / nk
        syy = (r.T @ (xc[:, 1] * xc[:, 1])) / nk
        c_new = np.empty((len(nk), 2, 2))
        c_new[:, 0, 0] = sxx - m_new[:, 0] * m_new[:, 0]
        c_new[:, 0, 1] = c_new[:, 1, 0] = sxy - m_new[:, 0] * m_new[:, 1]
        c_new[:, 1, 1] = syy - m_new[:, 1] * m_new[:, 1]
        c_new += eye
        m_new = m_new + centre
        change = max(np.linalg.norm(w_new - w), np.linalg.norm(m_new - m),
                     np.linalg.norm(c_new - c))
        w, m, c = w_new, m_new, c_new
        if change < tol:
            converged = True
            break
    return dict(weights=w, means=m, covs=c, iterations=it, converged=converged,
                log_likelihood=ll)
