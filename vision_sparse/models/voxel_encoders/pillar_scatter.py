"""Pillar features -> dense BEV map (the PointPillars scatter) and the middle-encoder switch."""
from typing import Optional, Sequence

from torch import Tensor, nn

from vision_sparse.registry import MODELS

__all__ = ['PointPillarsScatter', 'spconv_status', 'MIDDLE_ENCODERS']

#: ``pts_middle_encoder`` short names -> registered types.
MIDDLE_ENCODERS = {'pillars': 'PointPillarsScatter', 'spconv': 'SparseEncoder'}


def spconv_status() -> Optional[str]:
    """None when ``spconv.pytorch`` imports, else why not (one sentence).

    Measured here (torch 2.14 CPU build, Python 3.11): ``pip install spconv==2.3.8``
    installs (it pulls ``cumm``), and a sparse convolution's forward runs on CPU, but
    its backward calls ``torch.cuda.current_stream()`` and fails with ``RuntimeError:
    Found no NVIDIA driver on your system``, so spconv cannot train on CPU; it is not a
    dependency of vision_sparse and the pillar path is the LiDAR encoder.
    """
    try:
        import spconv.pytorch  # noqa: F401
    except Exception as exc:  # ImportError, or a broken binary
        return f'spconv is not usable ({type(exc).__name__}: {exc})'
    return None


@MODELS.register_module()
class PointPillarsScatter(nn.Module):
    """Scatter per-pillar features onto a ``(B, C, ny, nx)`` BEV map with
    :func:`vision_sparse.ops.bev_scatter` (empty cells 0).

    Args:
        in_channels (int): C, the pillar feature width.
        output_shape (Sequence[int]): ``(ny, nx)`` BEV cells (the voxel grid's y, x).
    """

    def __init__(self, in_channels: int, output_shape: Sequence[int]):
        super().__init__()
        if len(output_shape) != 2 or min(output_shape) < 1:
            raise ValueError(f'output_shape must be (ny, nx) >= 1, got {output_shape!r}')
        self.in_channels = int(in_channels)
        self.ny, self.nx = (int(v) for v in output_shape)

    def forward(self, voxel_features: Tensor, coors: Tensor, batch_size: int) -> Tensor:
        """(M, C) features at (M, 4) ``(batch, z, y, x)`` cells -> (B, C, ny, nx)."""
        from vision_sparse.ops import bev_scatter
        if voxel_features.dim() != 2 or voxel_features.shape[1] != self.in_channels:
            raise ValueError(f'voxel_features must be (M, {self.in_channels}), got '
                             f'{tuple(voxel_features.shape)}')
        return bev_scatter(voxel_features, coors, batch_size, (self.nx, self.ny))


@MODELS.register_module()
class SparseEncoder(nn.Module):
    """Placeholder of the spconv 3-D sparse encoder (SECOND / TransFusion's
    ``SparseEncoder``): not implemented, see :func:`spconv_status` for why; building
    it raises with the reason. Use ``pts_middle_encoder='pillars'``.
    """

    def __init__(self, **kwargs):
        super().__init__()
        reason = spconv_status() or ('spconv imports, but its backward needs CUDA '
                                     '(torch.cuda.current_stream) so it cannot train on CPU')
        raise NotImplementedError(
            f"pts_middle_encoder='spconv' (SparseEncoder) is not available: {reason}. "
            "Use pts_middle_encoder='pillars' (PillarFeatureNet + PointPillarsScatter).")
