"""Batching of LiDAR + multi-view camera samples (the SparseFusion batch contract).

Input: what :class:`~vision_sparse.datasets.det3d.PackFusionInputs` gives, collated by
``pseudo_collate`` (``inputs`` a dict of lists) or left as a list of per-sample dicts::

    inputs: points (N_i, C) float32, imgs (V, 3, H, W) uint8 BGR (in a list of per-sample
            dicts, imgs may also be a list of V (3, H, W) tensors; they must share one size)
    data_samples: DetDataSample with gt_instances_3d and the camera metainfo

Output: ``dict(inputs=dict(points=list of B (N_i, C) float32 tensors,
imgs=(B, V, 3, H, W) float32 normalised RGB), data_samples=...)`` on the model's device.
Points are never padded or stacked (each sample keeps its own count, possibly 0).
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor

from vision_sparse.registry import MODELS

__all__ = ['FusionDataPreprocessor']


@MODELS.register_module()
class FusionDataPreprocessor(BaseDataPreprocessor):
    """Stack the views, normalise, BGR -> RGB; points stay a list.

    Args:
        mean (Sequence[float]): per-channel mean, in the OUTPUT channel order (RGB when
            ``bgr_to_rgb``); default ImageNet (mmdet's).
        std (Sequence[float]): per-channel standard deviation.
        bgr_to_rgb (bool): reverse the channel order of the (BGR) input images.
        pad_size_divisor (int): pad H and W (bottom / right, with 0 after normalising) to a
            multiple of this; ``lidar2img`` stays valid (padding adds pixels at the far
            side). The padded size is stored as ``pad_shape`` in each data sample.

    Raises:
        ValueError: (at call time) for views of different sizes (naming the views), samples
            with different numbers or sizes of views, or points that are not (N, >=3).
    """

    def __init__(self, mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), bgr_to_rgb: bool = True,
                 pad_size_divisor: int = 1, non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f'mean and std must have 3 values, std > 0; got {mean}, {std}')
        if int(pad_size_divisor) < 1:
            raise ValueError(f'pad_size_divisor must be >= 1, got {pad_size_divisor}')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 1, 3, 1, 1),
                             persistent=False)
        self.bgr_to_rgb = bool(bgr_to_rgb)
        self.pad_size_divisor = int(pad_size_divisor)

    @staticmethod
    def _per_sample(inputs) -> List[Dict]:
        if isinstance(inputs, dict):  # pseudo_collate: dict of lists
            n = len(next(iter(inputs.values()))) if inputs else 0
            return [{k: v[i] for k, v in inputs.items()} for i in range(n)]
        return list(inputs)

    @staticmethod
    def _stack_views(imgs, b: int, names: Optional[Sequence[str]]) -> torch.Tensor:
        if isinstance(imgs, torch.Tensor):
            if imgs.dim() != 4 or imgs.shape[1] != 3:
                raise ValueError(f'sample {b}: imgs must have shape (V, 3, H, W), '
                                 f'got {tuple(imgs.shape)}')
            return imgs
        shapes = [tuple(im.shape) for im in imgs]
        if len(set(shapes)) != 1:
            labels = list(names) if names and len(names) == len(shapes) else range(len(shapes))
            raise ValueError(f'sample {b}: views of different sizes cannot be stacked: '
                             f'{dict(zip(labels, shapes))}; resize them to one size '
                             '(ResizeMultiView)')
        return torch.stack(list(imgs))

    def forward(self, data: Dict, training: bool = False) -> Dict:
        """Batch ``data`` (see the module docstring)."""
        samples = self._per_sample(data['inputs'])
        data_samples = data.get('data_samples')
        out: Dict = {}
        if samples and all(s.get('points') is not None for s in samples):
            points = []
            for b, s in enumerate(samples):
                p = torch.as_tensor(s['points'])
                if p.dim() != 2 or p.shape[1] < 3:
                    raise ValueError(f'sample {b}: points must have shape (N, >=3), '
                                     f'got {tuple(p.shape)}')
                points.append(self.cast_data(p.float()))
            out['points'] = points
        if samples and all(s.get('imgs') is not None for s in samples):
            views = []
            for b, s in enumerate(samples):
                names = None
                if data_samples is not None:
                    names = data_samples[b].metainfo.get('cam_names')
                views.append(self._stack_views(s['imgs'], b, names))
            shapes = [tuple(v.shape) for v in views]
            if len(set(shapes)) != 1:
                raise ValueError(f'samples have different view stacks (V, 3, H, W): {shapes}')
            imgs = self.cast_data(torch.stack(views)).float()
            if self.bgr_to_rgb:
                imgs = imgs.flip(2)
            imgs = (imgs - self.mean) / self.std
            h, w = imgs.shape[-2:]
            ph = -h % self.pad_size_divisor
            pw = -w % self.pad_size_divisor
            if ph or pw:
                imgs = F.pad(imgs, (0, pw, 0, ph))
            if data_samples is not None:
                for ds in data_samples:
                    ds.set_metainfo(dict(pad_shape=(h + ph, w + pw)))
            out['imgs'] = imgs
        if data_samples is not None:
            data_samples = self.cast_data(data_samples)
        return dict(inputs=out, data_samples=data_samples)
