"""Training rays of the landmark voxel grids (FaVoR step 3).

Every observation of a landmark gives ``P x P`` training rays (``P = 2 h + 1``,
``h = patch_half``, 7 in FaVoR): from the observing camera centre through the
pixels of the patch around the keypoint, with the dense-descriptor patch as
targets. Rays are stored flat and grouped by landmark.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .tracker import TrackSet

__all__ = ['TrainingRays', 'build_training_rays']


class TrainingRays:
    """Rays of every landmark, grouped by landmark.

    Args:
        origins (Tensor): (M, 3) float32 camera centres, world frame, metres.
        dirs (Tensor): (M, 3) float32 unnormalised directions, world frame.
        targets (Tensor): (M, C) target descriptors (storage dtype of the patches).
        landmark (Tensor): (M,) int64 landmark of each ray, sorted.
        num_landmarks (int): L (landmarks without rays count too).

    Attributes:
        counts (Tensor): (L,) rays per landmark.
        offsets (Tensor): (L + 1,) start of each landmark's rays.
    """

    def __init__(self, origins: Tensor, dirs: Tensor, targets: Tensor, landmark: Tensor,
                 num_landmarks: int):
        self.origins, self.dirs, self.targets, self.landmark = origins, dirs, targets, landmark
        counts = torch.bincount(landmark, minlength=num_landmarks)
        self.counts = counts
        self.offsets = F.pad(torch.cumsum(counts, 0), (1, 0))

    @property
    def num_landmarks(self) -> int:
        return int(self.counts.shape[0])

    def __len__(self) -> int:
        return int(self.landmark.shape[0])

    def indices_of(self, landmark_ids: Tensor) -> Tensor:
        """(R,) indices of every ray of the given landmarks, in that order."""
        parts = [torch.arange(int(self.offsets[i]), int(self.offsets[i + 1]))
                 for i in torch.as_tensor(landmark_ids, dtype=torch.long).tolist()]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)

    def subset(self, landmark_ids: Tensor) -> 'TrainingRays':
        """Rays of some landmarks, renumbered ``0..len(landmark_ids)-1`` in that order."""
        ids = torch.as_tensor(landmark_ids, dtype=torch.long)
        sel = self.indices_of(ids)
        new_lm = torch.repeat_interleave(torch.arange(len(ids)), self.counts[ids])
        return TrainingRays(self.origins[sel], self.dirs[sel], self.targets[sel], new_lm, len(ids))

    def sample(self, rays_per_landmark: int, gen: torch.Generator,
               landmarks: Optional[Tensor] = None) -> Tensor:
        """Ray indices for one training step.

        Args:
            rays_per_landmark (int): uniform draws (with replacement) per landmark;
                ``<= 0`` takes every ray.
            gen (torch.Generator): randomness.
            landmarks (Tensor, optional): (L',) sample only these landmarks.

        Returns:
            Tensor: (R,) int64 indices into the rays, ``rays_per_landmark``
            consecutive ones per landmark in landmark order (or every ray).
        """
        lm = torch.arange(self.num_landmarks) if landmarks is None else landmarks
        if rays_per_landmark <= 0:
            return torch.arange(len(self)) if landmarks is None else self.indices_of(lm)
        u = torch.rand(len(lm), rays_per_landmark, generator=gen)
        idx = self.offsets[lm, None] + (u * self.counts[lm, None]).long().clamp_max(
            self.counts[lm, None] - 1)
        return idx.reshape(-1)


def build_training_rays(tracks: TrackSet) -> TrainingRays:
    """Rays through the patch pixels of every observation.

    Args:
        tracks (TrackSet): observations; ``track_ids`` are landmark indices.

    Returns:
        TrainingRays: ``P^2`` rays per observation; the ray of patch cell
        ``(dy, dx)`` passes through pixel ``uv + (dx, dy)`` and its target is
        ``patches[m, dy + h, dx + h]``.
    """
    h = tracks.patch_half
    p = 2 * h + 1
    M = tracks.uv.shape[0]
    off = torch.arange(-h, h + 1, dtype=torch.float64)
    oy, ox = torch.meshgrid(off, off, indexing='ij')
    pix = tracks.uv.double()[:, None, None, :] + torch.stack([ox, oy], -1)[None]  # (M, P, P, 2)
    K = tracks.intrinsics[tracks.frame_ids]  # (M, 3, 3)
    pose = tracks.poses[tracks.frame_ids]  # (M, 4, 4) c2w
    x = (pix[..., 0] - K[:, None, None, 0, 2]) / K[:, None, None, 0, 0]
    y = (pix[..., 1] - K[:, None, None, 1, 2]) / K[:, None, None, 1, 1]
    d_cam = torch.stack([x, y, torch.ones_like(x)], -1)
    dirs = torch.einsum('mij,mabj->mabi', pose[:, :3, :3], d_cam).reshape(-1, 3)
    origins = pose[:, None, None, :3, 3].expand(M, p, p, 3).reshape(-1, 3)
    targets = tracks.patches.reshape(M * p * p, -1)
    landmark = tracks.track_ids.repeat_interleave(p * p)
    return TrainingRays(origins.float(), dirs.float(), targets, landmark, tracks.num_tracks)
