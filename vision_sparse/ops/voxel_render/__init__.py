"""Volume rendering of many small voxel grids along rays (FaVoR landmarks).

Every landmark ``l`` owns an axis-aligned box ``[box_min[l], box_max[l]]``
(world units) and a grid of ``Gx x Gy x Gz`` nodes holding a raw density and a
``C``-dim feature.  Ray ``r`` is rendered through the box of landmark
``ray_ids[r]`` only::

    feat[r]   = sum_i w_i f_i + T_last[r] * bg        (no clamp: the caller clamps)
    T_last[r] = prod_i (1 - alpha_i)
    alpha_i   = 1 - exp(-softplus(sigma_i + density_shift) * step_ratio)
    w_i       = alpha_i * prod_{j<i} (1 - alpha_j)

Conventions (shared by the reference below and the compiled kernels):

* Grid: node ``(i, j, k)`` of ``density[l]`` / ``features[l, :]`` lies at
  ``box_min + (i, j, k) / (G - 1) * (box_max - box_min)`` -- the align-corners
  convention of FaVoR's ``grid_sample(..., align_corners=True)``: the outer nodes
  lie on the box faces.  ``i`` runs along world x, ``j`` along y, ``k`` along z.
  ``sigma_i`` / ``f_i`` are trilinear interpolations of the 8 nodes around the sample.
* Rays: ``rays_d`` need not be unit; it is normalised inside, so distances along
  rays are world units.  The slab test gives ``[t_enter, t_exit]``; sampling
  starts at ``t_near = max(t_enter, 0)`` (a ray starting inside a box starts at
  its origin; FaVoR starts at 0.2 instead, see docs/voxel_render.md).
* Samples: ``t_i = t_near + i * step`` for ``i < N``, with ``step = step_ratio * v``,
  ``v = cbrt(box volume / (Gx Gy Gz))`` (FaVoR's voxel size: box side / 3 for a
  3x3x3 grid in a cube) and ``N = ceil((t_exit - t_near) / step - 1e-6)`` (so a
  path of exactly k steps gives k samples despite the rounding of ``step``); all
  samples are inside the box.  ``N = 0`` when the ray misses: ``feat = bg``,
  ``T_last = 1``, zero gradients.  ``N <= MAX_SAMPLES_PER_RAY``: every box
  diagonal must be at most that many steps, else ValueError before any work.
* Inputs must be finite (NaN / inf in grids, boxes or rays: ValueError).
* ``step_ratio`` is also the alpha interval (voxel units, as in FaVoR/DVGO where
  ``interval = stepsize * voxel_size_ratio = 0.1``): with a constant density
  ``s``, ``T_last = exp(-softplus(s + shift) * N * step_ratio)``, i.e. the
  optical depth is softplus times the path length in voxels.
* ``softplus(x) = x`` for ``x > 20`` and ``log(1 + exp(x))`` otherwise (torch's).
* Geometry (rays, boxes, sample positions, trilinear weights) is computed in
  float64.  Density, alpha and transmittance: float64 in the CPU kernel, the
  grids' dtype in the reference and the CUDA kernel; channel sums in the grids'
  dtype.
* Gradients flow to ``density`` and ``features`` only; rays and boxes are
  constants (the sample positions are not differentiated).

:func:`voxel_render` runs the compiled kernels (``vision_sparse._C``, CPU or CUDA,
hand-written backward) when they are available for the inputs' device, and
:func:`voxel_render_reference` (pure PyTorch, autograd) otherwise.
"""
from .reference import DEFAULT_DENSITY_SHIFT, MAX_SAMPLES_PER_RAY, voxel_render_reference
from .voxel_render import VoxelRender, VoxelRenderFunction, voxel_render

__all__ = [
    'voxel_render', 'voxel_render_reference', 'VoxelRender', 'VoxelRenderFunction',
    'DEFAULT_DENSITY_SHIFT', 'MAX_SAMPLES_PER_RAY'
]
