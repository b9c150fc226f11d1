"""A tiny, exactly solvable learning problem for testing the training engine.

``SyntheticRegressionDataset`` draws ``x ~ N(0, I)`` with a fixed seed and
``y = A x + c`` for a fixed ``A, c``; ``ToyRegressor`` is a linear model that can
fit it exactly; ``RegressionMetric`` reports the mean squared error.  They exist
so that save / resume / test, distributed training and config building can be
tested in seconds with a known answer (the loss must go to ~0), not to be used
as a method.
"""
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from ..registry import DATASETS, METRICS, MODELS


@DATASETS.register_module()
class SyntheticRegressionDataset(Dataset):
    """``num_samples`` pairs ``(x, y = A x + c)``, ``x`` in R^in_dim.

    Args:
        num_samples (int): dataset length.
        in_dim (int): input size.
        out_dim (int): output size.
        seed (int): seed of both the data and the true ``A, c``.
        noise (float): std of Gaussian noise added to ``y``.
    """

    def __init__(self, num_samples: int = 64, in_dim: int = 4, out_dim: int = 2,
                 seed: int = 0, noise: float = 0.0):
        if num_samples <= 0:
            raise ValueError(f'num_samples must be positive, got {num_samples}')
        rng = np.random.default_rng(seed)
        self.A = rng.standard_normal((out_dim, in_dim)).astype(np.float32)
        self.c = rng.standard_normal(out_dim).astype(np.float32)
        self.x = rng.standard_normal((num_samples, in_dim)).astype(np.float32)
        self.y = self.x @ self.A.T + self.c
        if noise > 0:
            self.y = self.y + noise * rng.standard_normal(self.y.shape).astype(np.float32)
        self.metainfo = dict(in_dim=in_dim, out_dim=out_dim)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: int) -> Dict[str, torch.Tensor]:
        return dict(inputs=torch.from_numpy(self.x[idx]),
                    targets=torch.from_numpy(self.y[idx]))


@MODELS.register_module()
class ToyRegressor(BaseModel):
    """Linear regressor with an mmengine ``BaseModel`` interface.

    ``forward(inputs (B, in_dim), targets (B, out_dim), mode)``: ``'loss'`` returns
    ``dict(loss_mse=...)``; ``'predict'`` returns a list of dicts with ``pred`` and
    ``target``; ``'tensor'`` returns the raw (B, out_dim) output.
    """

    def __init__(self, in_dim: int = 4, out_dim: int = 2,
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, inputs: torch.Tensor, targets: Optional[torch.Tensor] = None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor], List[dict],
                                                torch.Tensor]:
        if isinstance(inputs, (list, tuple)):  # pseudo_collate gives lists
            inputs = torch.stack(list(inputs))
        if isinstance(targets, (list, tuple)):
            targets = torch.stack(list(targets))
        if inputs.dim() != 2 or inputs.shape[1] != self.linear.in_features:
            raise ValueError(f'inputs must have shape (B, {self.linear.in_features}), '
                             f'got {tuple(inputs.shape)}')
        out = self.linear(inputs)
        if mode == 'tensor':
            return out
        if targets is None:
            raise ValueError(f"mode '{mode}' needs targets")
        if mode == 'loss':
            return dict(loss_mse=((out - targets) ** 2).mean())
        if mode == 'predict':
            return [dict(pred=p.detach(), target=t) for p, t in zip(out, targets)]
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")


@METRICS.register_module()
class RegressionMetric(BaseMetric):
    """Mean squared error of ``ToyRegressor`` predictions (key ``mse``)."""

    default_prefix = 'toy'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for s in data_samples:
            self.results.append(float(((s['pred'] - s['target']) ** 2).mean()))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        return dict(mse=float(np.mean(results)) if results else float('nan'))


__all__ = ['SyntheticRegressionDataset', 'ToyRegressor', 'RegressionMetric']
