"""The FaVoR landmark map: one small voxel grid of descriptors per 3-D landmark.

Every landmark ``l`` has a world point ``centers[l]``, an axis-aligned box
``[box_min[l], box_max[l]]`` around it and a ``G x G x G`` grid of raw
densities and ``C``-dim features over the box (``G = 3`` in FaVoR). A
descriptor is *rendered* along a ray through the box with
:func:`vision_sparse.ops.voxel_render.voxel_render` and clamped to ``[-1, 1]``.

The map is saved as one file of plain tensors and metadata (``torch.save`` of
a dict, loadable with ``weights_only=True``): the descriptor size and the
feature type are stored, and loading a map made with another extractor gives a
clear error instead of silently wrong matches.

Frames: points, boxes, rays in the world frame (metres); poses ``T_c2w``.
"""
import os
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ...ops.voxel_render import DEFAULT_DENSITY_SHIFT, voxel_render

__all__ = ['LandmarkMap', 'MAP_FORMAT', 'MAP_VERSION', 'render_landmarks']

MAP_FORMAT = 'vision_sparse.favor_landmark_map'
MAP_VERSION = 1


def render_landmarks(density: Tensor, features: Tensor, box_min: Tensor, box_max: Tensor,
                     rays_o: Tensor, rays_d: Tensor, ray_ids: Tensor, step_ratio: float = 0.1,
                     density_shift: float = DEFAULT_DENSITY_SHIFT, bg: float = 1.0,
                     clamp: bool = True):
    """Render rays through landmark grids and clamp to ``[-1, 1]`` (FaVoR's descriptor).

    Thin wrapper of :func:`vision_sparse.ops.voxel_render.voxel_render` (the
    compiled kernel when built, its pure-PyTorch reference otherwise).

    Args:
        density (Tensor): (L, G, G, G) raw densities.
        features (Tensor): (L, C, G, G, G) features.
        box_min, box_max (Tensor): (L, 3) boxes, world frame.
        rays_o, rays_d (Tensor): (R, 3) ray origins / directions, world frame.
        ray_ids (Tensor): (R,) int64 landmark of each ray.
        step_ratio (float): sample step as a fraction of the voxel size.
        density_shift (float): added to raw densities before softplus.
        bg (float): value added with the final transmittance.
        clamp (bool): clamp to ``[-1, 1]`` (False: the trainer's fused loss clamps).

    Returns:
        tuple: ``desc`` (R, C) clamped to ``[-1, 1]`` and ``T_last`` (R,).
    """
    feat, t_last = voxel_render(density, features, box_min.to(density), box_max.to(density),
                                rays_o.to(density), rays_d.to(density), ray_ids.long(),
                                step_ratio=float(step_ratio), density_shift=float(density_shift),
                                bg=float(bg))
    return (feat.clamp(-1.0, 1.0) if clamp else feat), t_last


class LandmarkMap:
    """Landmarks with voxel grids, their metadata and a retrieval database.

    Args:
        centers (Tensor): (L, 3) world points, metres (float64).
        box_min, box_max (Tensor): (L, 3) landmark boxes.
        density (Tensor): (L, G, G, G) float32 raw densities.
        features (Tensor): (L, C, G, G, G) float32 features.
        feature_type (str): extractor that made the descriptors (``'xfeat'`` ...).
        step_ratio, density_shift, bg (float): rendering constants.
        psnr (Tensor, optional): (L,) training PSNR (dB).
        num_obs (Tensor, optional): (L,) training observations per landmark.
        retrieval (dict, optional): retrieval database (see
            :class:`~.retrieval.GlobalRetrieval.state_dict`).
        extra (dict, optional): more metadata saved with the map.
    """

    def __init__(self, centers: Tensor, box_min: Tensor, box_max: Tensor, density: Tensor,
                 features: Tensor, feature_type: str, step_ratio: float = 0.1,
                 density_shift: float = DEFAULT_DENSITY_SHIFT, bg: float = 1.0,
                 psnr: Optional[Tensor] = None, num_obs: Optional[Tensor] = None,
                 retrieval: Optional[Dict] = None, extra: Optional[Dict] = None):
        L = centers.shape[0]
        if centers.dim() != 2 or centers.shape[1] != 3:
            raise ValueError(f'centers must have shape (L, 3), got {tuple(centers.shape)}')
        for name, t in (('box_min', box_min), ('box_max', box_max)):
            if tuple(t.shape) != (L, 3):
                raise ValueError(f'{name} must have shape ({L}, 3), got {tuple(t.shape)}')
        if density.dim() != 4 or density.shape[0] != L:
            raise ValueError(f'density must have shape ({L}, G, G, G), got {tuple(density.shape)}')
        if features.dim() != 5 or features.shape[0] != L or features.shape[2:] != density.shape[1:]:
            grid = ', '.join(map(str, density.shape[1:]))
            raise ValueError(f'features must have shape ({L}, C, {grid}), '
                             f'got {tuple(features.shape)}')
        self.centers = centers.double()
        self.box_min, self.box_max = box_min.double(), box_max.double()
        self.density, self.features = density.float(), features.float()
        self.feature_type = str(feature_type)
        self.step_ratio, self.density_shift = float(step_ratio), float(density_shift)
        self.bg = float(bg)
        self.psnr = psnr if psnr is not None else torch.full((L,), float('nan'))
        self.num_obs = num_obs if num_obs is not None else torch.zeros(L, dtype=torch.long)
        self.retrieval = retrieval
        self.extra = dict(extra or {})

    # ------------------------------------------------------------------ properties
    def __len__(self) -> int:
        return int(self.centers.shape[0])

    @property
    def descriptor_dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def grid_size(self) -> int:
        return int(self.density.shape[1])

    def memory_bytes(self) -> int:
        """Bytes of the per-landmark tensors (grids, boxes, centre, PSNR, count)."""
        tensors = (self.centers, self.box_min, self.box_max, self.density, self.features,
                   self.psnr, self.num_obs)
        return int(sum(t.numel() * t.element_size() for t in tensors))

    def memory_per_landmark_kb(self) -> float:
        """``memory_bytes() / L / 1024`` (KiB per landmark; nan for an empty map)."""
        return self.memory_bytes() / len(self) / 1024.0 if len(self) else float('nan')

    def select(self, index: Union[Tensor, Sequence[int]]) -> 'LandmarkMap':
        """A map of a subset of landmarks (bool mask or indices)."""
        idx = torch.as_tensor(index)
        return LandmarkMap(self.centers[idx], self.box_min[idx], self.box_max[idx],
                           self.density[idx], self.features[idx], self.feature_type,
                           self.step_ratio, self.density_shift, self.bg, self.psnr[idx],
                           self.num_obs[idx], self.retrieval, self.extra)

    # ------------------------------------------------------------------ rendering
    @torch.no_grad()
    def render(self, rays_o: Tensor, rays_d: Tensor, landmark_ids: Tensor):
        """Rendered descriptors (clamped to ``[-1, 1]``) and final transmittance.

        Args:
            rays_o, rays_d (Tensor): (R, 3) world-frame rays.
            landmark_ids (Tensor): (R,) landmark of each ray.

        Returns:
            tuple: ``desc`` (R, C), ``T_last`` (R,).
        """
        return render_landmarks(self.density, self.features, self.box_min, self.box_max,
                                rays_o, rays_d, landmark_ids, self.step_ratio,
                                self.density_shift, self.bg)

    @torch.no_grad()
    def render_view(self, T_c2w: np.ndarray, K: np.ndarray, image_size, border: float = 5.0,
                    min_depth: float = 0.05) -> Dict[str, Tensor]:
        """Project landmark centres into a view and render one descriptor each.

        The ray of landmark ``l`` goes from the camera centre through
        ``centers[l]`` (FaVoR's point rendering).

        Args:
            T_c2w (np.ndarray): (4, 4) camera-to-world pose.
            K (np.ndarray): (3, 3) intrinsics.
            image_size (tuple): ``(W, H)`` pixels.
            border (float): landmarks projecting closer than this to the edge are skipped.
            min_depth (float): landmarks closer than this (or behind) are skipped, metres.

        Returns:
            dict: ``landmark_ids`` (V,) int64, ``uv`` (V, 2) projected pixels,
            ``depth`` (V,) z-depth, ``descriptors`` (V, C) unit rendered descriptors
            (V = 0 when no landmark is visible).
        """
        T = torch.as_tensor(np.asarray(T_c2w, np.float64))
        Kt = torch.as_tensor(np.asarray(K, np.float64))
        w, h = int(image_size[0]), int(image_size[1])
        R, c = T[:3, :3], T[:3, 3]
        Xc = (self.centers - c) @ R  # R^T (X - c)
        z = Xc[:, 2]
        zs = torch.where(z.abs() < 1e-9, torch.full_like(z, 1e-9), z)
        uv = torch.stack([Kt[0, 0] * Xc[:, 0] / zs + Kt[0, 2],
                          Kt[1, 1] * Xc[:, 1] / zs + Kt[1, 2]], -1)
        vis = ((z > min_depth) & (uv[:, 0] >= border) & (uv[:, 0] <= w - 1 - border)
               & (uv[:, 1] >= border) & (uv[:, 1] <= h - 1 - border))
        ids = torch.nonzero(vis)[:, 0]
        if ids.numel() == 0:
            return dict(landmark_ids=ids, uv=uv[ids].float(), depth=z[ids].float(),
                        descriptors=torch.zeros(0, self.descriptor_dim))
        dirs = self.centers[ids] - c
        desc, _ = self.render(c.expand(ids.numel(), 3), dirs, ids)
        return dict(landmark_ids=ids, uv=uv[ids].float(), depth=z[ids].float(),
                    descriptors=F.normalize(desc.float(), dim=-1))

    # ------------------------------------------------------------------ files
    def state_dict(self) -> Dict:
        """Plain tensors and metadata (what :meth:`save` writes)."""
        return dict(format=MAP_FORMAT, version=MAP_VERSION, feature_type=self.feature_type,
                    descriptor_dim=self.descriptor_dim, grid_size=self.grid_size,
                    step_ratio=self.step_ratio, density_shift=self.density_shift, bg=self.bg,
                    centers=self.centers, box_min=self.box_min, box_max=self.box_max,
                    density=self.density, features=self.features, psnr=self.psnr,
                    num_obs=self.num_obs, retrieval=self.retrieval, extra=self.extra)

    def save(self, path: str) -> None:
        """Write the map to one file (``torch.save`` of :meth:`state_dict`)."""
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        torch.save(self.state_dict(), path)

    @classmethod
    def from_state_dict(cls, state: Dict, descriptor_dim: Optional[int] = None,
                        feature_type: Optional[str] = None, source: str = 'state') -> 'LandmarkMap':
        """Rebuild a map, checking it was made with the expected extractor.

        Args:
            state (dict): output of :meth:`state_dict`.
            descriptor_dim (int, optional): required descriptor size.
            feature_type (str, optional): required feature type.
            source (str): name used in error messages.

        Raises:
            ValueError: not a FaVoR map, a newer version, or another descriptor
                size / feature type than required.
        """
        if not isinstance(state, dict) or state.get('format') != MAP_FORMAT:
            raise ValueError(f'{source} is not a FaVoR landmark map (missing format '
                             f'{MAP_FORMAT!r})')
        if int(state.get('version', 0)) > MAP_VERSION:
            raise ValueError(f'{source} has map version {state.get("version")}, newer than the '
                             f'supported {MAP_VERSION}')
        if descriptor_dim is not None and int(state['descriptor_dim']) != int(descriptor_dim):
            raise ValueError(f'{source} was built with {state["descriptor_dim"]}-d descriptors '
                             f'({state["feature_type"]}), but {descriptor_dim}-d are expected: '
                             'rebuild the map with this feature extractor')
        if feature_type is not None and str(state['feature_type']) != str(feature_type):
            raise ValueError(f'{source} was built with feature type {state["feature_type"]!r}, '
                             f'but {feature_type!r} is expected: rebuild the map with this '
                             'feature extractor')
        return cls(state['centers'], state['box_min'], state['box_max'], state['density'],
                   state['features'], state['feature_type'], state['step_ratio'],
                   state['density_shift'], state['bg'], state.get('psnr'), state.get('num_obs'),
                   state.get('retrieval'), state.get('extra'))

    @classmethod
    def load(cls, path: str, descriptor_dim: Optional[int] = None,
             feature_type: Optional[str] = None) -> 'LandmarkMap':
        """Load a map file (``weights_only``: plain tensors and metadata only).

        Raises:
            FileNotFoundError: no such file.
            ValueError: see :meth:`from_state_dict`.
        """
        if not os.path.isfile(path):
            raise FileNotFoundError(f'landmark map {path} does not exist; build it with '
                                    'tools/favor_build_map.py')
        state = torch.load(path, map_location='cpu', weights_only=True)
        return cls.from_state_dict(state, descriptor_dim, feature_type, source=str(path))
