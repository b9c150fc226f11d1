"""2-D Gaussian mixtures: Expectation-Maximisation, density rendering,
sampling. Numpy, full covariances, used by DMESA.

Speed (DMESA renders one mixture of up to 256 components per source area):
``gmm_grid_density`` evaluates every component only on the grid cells of its
``radius``-Mahalanobis bounding box (components batched by footprint size,
one ``bincount`` accumulation); the EM step computes all log-densities with
one ``(M, 6) @ (6, K)`` product of quadratic features and one ``exp``.
"""
from typing import Dict, Optional, Tuple

import numpy as np

__all__ = ['fit_gmm_em', 'gmm_density', 'gmm_grid_density', 'sample_gmm']

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


def _log_quadratic(means: np.ndarray, covs: np.ndarray, weights: np.ndarray
                   ) -> np.ndarray:
    """``(6, K)`` coefficients ``theta`` with ``log(w_k N(x | mean_k, cov_k))
    = [x^2, x y, y^2, x, y, 1] @ theta_k`` (expanded Mahalanobis form)."""
    a, b, d = covs[:, 0, 0], covs[:, 0, 1], covs[:, 1, 1]
    det = a * d - b * b
    ia, ib, idd = a / det, b / det, d / det  # inverse covariance: [[idd, -ib], [-ib, ia]]
    mx, my = means[:, 0], means[:, 1]
    const = (-0.5 * (idd * mx * mx - 2 * ib * mx * my + ia * my * my)
             - 0.5 * np.log(det) - _LOG2PI + np.log(np.maximum(weights, 1e-300)))
    return np.stack([-0.5 * idd, ib, -0.5 * ia, idd * mx - ib * my, ia * my - ib * mx,
                     const])


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


def gmm_grid_density(weights, means, covs, origin, step: float,
                     shape: Tuple[int, int], radius: float = 7.0,
                     chunk: int = 1 << 21) -> np.ndarray:
    """Mixture density on a regular grid, each component evaluated only near
    its mean.

    Cell ``(r, c)`` lies at ``(x, y) = (origin[0] + c * step, origin[1] + r *
    step)``. Component ``k`` is evaluated on the cells of the bounding box of
    its ``radius``-Mahalanobis ellipse (half-sizes ``radius * sqrt(cov_xx)``,
    ``radius * sqrt(cov_yy)``); outside it the component is below
    ``exp(-radius^2 / 2)`` of its peak, so the result differs from
    :func:`gmm_density` on the same points by at most ``K * exp(-radius^2 /
    2)`` times the density maximum (radius 7, 256 components: 6e-9).
    Components are batched by footprint size (rounded up to powers of
    ``sqrt(2)`` cells) and accumulated with ``np.bincount``.

    Args:
        weights: ``(K,)`` weights.
        means: ``(K, 2)`` means, px.
        covs: ``(K, 2, 2)`` covariances, px^2.
        origin: ``(2,)`` position of cell ``(0, 0)``, px.
        step (float): cell spacing, px (> 0).
        shape (tuple): ``(rows, cols)`` of the grid.
        radius (float): truncation radius in standard deviations (> 0).
        chunk (int): at most this many component-cell values at once (memory).

    Returns:
        np.ndarray: ``(rows, cols)`` densities (per px^2 when px).
    """
    w, m, c = _check(weights, means, covs)
    if not step > 0 or not radius > 0:
        raise ValueError(f'step and radius must be > 0, got {step}, {radius}')
    gh, gw = int(shape[0]), int(shape[1])
    out = np.zeros(gh * gw)
    if len(w) == 0 or gh <= 0 or gw <= 0:
        return out.reshape(max(gh, 0), max(gw, 0))
    a, b, d = c[:, 0, 0], c[:, 0, 1], c[:, 1, 1]
    det = a * d - b * b
    norm = w / (2.0 * np.pi * np.sqrt(det))
    inv = (d / det, b / det, a / det)  # -0.5 maha = -0.5 (ixx dx^2 + iyy dy^2) + ixy dx dy
    # component footprint in cells, clipped to the grid
    u = (m - np.asarray(origin, np.float64).reshape(1, 2)) / step  # (K, 2) cell coords
    half = radius * np.sqrt(np.stack([a, d], 1)) / step
    lo = np.maximum(np.ceil(u - half), 0).astype(np.int64)
    hi = np.minimum(np.floor(u + half), [gw - 1, gh - 1]).astype(np.int64)
    n = hi - lo + 1  # (K, 2) cells along x and y
    live = (n > 0).all(1)
    if not live.any():
        return out.reshape(gh, gw)
    # bucket sizes: next power of sqrt(2) cells (the padding cells are
    # evaluated exactly too), at most the grid
    nb = np.ceil(np.sqrt(2.0) ** np.ceil(2 * np.log2(np.maximum(n, 1)))
                 - 1e-9).astype(np.int64)
    nb = np.minimum(nb, [gw, gh])
    keys = nb[:, 0] * (gh + 1) + nb[:, 1]
    for key in np.unique(keys[live]):
        group = np.nonzero(live & (keys == key))[0]
        nx, ny = nb[group[0]]
        # at most ~2M cells evaluated at once (bounded memory for wide components)
        per = max(1, chunk // int(nx * ny))
        for s0 in range(0, len(group), per):
            out += _grid_block(group[s0:s0 + per], nx, ny, lo, inv, norm, m, origin,
                               step, gh, gw)
    return out.reshape(gh, gw)


def _grid_block(sel, nx, ny, lo, inv, norm, m, origin, step, gh, gw):
    """Flat ``(gh * gw,)`` sum of the components ``sel`` over ``(ny, nx)``
    cell windows starting at ``lo`` (shifted back inside the grid where they
    would run past its end; the windows cover the footprints)."""
    x0 = np.minimum(lo[sel, 0], gw - nx)
    y0 = np.minimum(lo[sel, 1], gh - ny)
    cols = x0[:, None] + np.arange(nx)[None]  # (S, nx)
    rows = y0[:, None] + np.arange(ny)[None]  # (S, ny)
    dx = origin[0] + cols * step - m[sel, 0:1]
    dy = origin[1] + rows * step - m[sel, 1:2]
    ixx, ixy, iyy = (v[sel, None] for v in inv)  # inverse covariance entries
    # -0.5 * Mahalanobis^2 = x part + y part + cross term
    q = (-0.5 * iyy * dy * dy)[:, :, None] + (-0.5 * ixx * dx * dx)[:, None, :]
    if np.any(ixy != 0):
        q += (ixy * dy)[:, :, None] * dx[:, None, :]
    val = np.exp(q) * norm[sel, None, None]
    return np.bincount((rows[:, :, None] * gw + cols[:, None, :]).ravel(), val.ravel(),
                       minlength=gh * gw)


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
    # quadratic features of the centred samples: log N_k(x) = feat @ theta_k
    feat = np.stack([xc[:, 0] * xc[:, 0], xc[:, 0] * xc[:, 1], xc[:, 1] * xc[:, 1],
                     xc[:, 0], xc[:, 1], np.ones(len(xc))], 1)  # (M, 6)
    converged, ll, it = False, float('nan'), 0
    for it in range(1, int(max_iters) + 1):
        # E-step: responsibilities in log space
        lp = feat @ _log_quadratic(m - centre, c, w)  # (M, K)
        mx = lp.max(1, keepdims=True)
        # floor at -700: exp of the far tail stays a normal float (e-304)
        # instead of a denormal (10x slower); negligible next to the max's 1
        r = np.subtract(lp, mx, out=lp)
        np.maximum(r, -700.0, out=r)
        np.exp(r, out=r)
        tot = r.sum(1)
        ll = float((mx[:, 0] + np.log(tot)).mean())
        r /= tot[:, None]  # (M, K)
        # M-step
        nk = r.sum(0)
        keep = nk / len(x) >= min_weight
        if not keep.all():
            r, nk, w, m, c = r[:, keep], nk[keep], w[keep], m[keep], c[keep]
        w_new = nk / nk.sum()
        # means and covariances from the weighted first and second moments
        # of the centred samples (E[x x^T] - mu mu^T): one (K, M) @ (M, 5)
        # product instead of an (M, K, 2, 2) tensor
        mom = (r.T @ feat[:, :5]) / nk[:, None]  # (K, 5): xx, xy, yy, x, y
        m_new = mom[:, 3:5]
        sxx, sxy, syy = mom[:, 0], mom[:, 1], mom[:, 2]
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
