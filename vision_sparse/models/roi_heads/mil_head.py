"""The MIL box head of PointOBB: RoI features -> class and instance scores per stage.

Two fully connected layers shared by all stages (RoI features flattened), then per
stage a class branch and an instance branch (one linear layer each). Stage 0 scores
``num_classes + 1`` classes (the last one is background, used through a softmax);
refinement stages score ``num_classes`` classes (sigmoids).
"""
import math
from typing import Optional, Tuple

from mmengine.model import BaseModule
from torch import Tensor, nn

from vision_sparse.registry import MODELS

__all__ = ['MILBBoxHead']


@MODELS.register_module()
class MILBBoxHead(BaseModule):
    """Shared 2-FC MIL head (official ``Shared2FCInstanceMILHead`` without regression).

    Args:
        num_classes (int): number of object classes C.
        in_channels (int): channels of the RoI features.
        roi_feat_size (int): side of the RoI features (7).
        fc_out_channels (int): width of the shared FC layers (official 1024).
        num_shared_fcs (int): number of shared FC layers (2).
        num_stages (int): 1 (MIL stage 0 only) or 2 (with the refinement stage).
        init_std (float | None): std of the normal init of every linear layer (official
            0.01, for 256-channel RoI features and a pretrained backbone); None keeps
            PyTorch's default (uniform, fan-in scaled) init, which trains better for
            narrow heads and untrained backbones.
        cls_bias_prob (float): prior probability setting the bias of the sigmoid
            class branches of stages >= 1 (0.01).
        init_cfg (dict, optional): mmengine init config (overrides the above).
    """

    def __init__(self, num_classes: int, in_channels: int = 256, roi_feat_size: int = 7,
                 fc_out_channels: int = 1024, num_shared_fcs: int = 2, num_stages: int = 2,
                 init_std: Optional[float] = 0.01, cls_bias_prob: float = 0.01, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'num_classes must be an int >= 1, got {num_classes!r}')
        if num_stages not in (1, 2) or num_shared_fcs < 1:
            raise ValueError(f'num_stages must be 1 or 2 and num_shared_fcs >= 1, got '
                             f'{num_stages}, {num_shared_fcs}')
        self.num_classes = num_classes
        self.num_stages = num_stages
        self.init_std = None if init_std is None else float(init_std)
        self.cls_bias_prob = float(cls_bias_prob)
        dims = [in_channels * roi_feat_size ** 2] + [fc_out_channels] * num_shared_fcs
        self.shared_fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.fc_cls = nn.ModuleList()
        self.fc_ins = nn.ModuleList()
        for stage in range(num_stages):
            out = num_classes + 1 if stage == 0 else num_classes
            self.fc_cls.append(nn.Linear(fc_out_channels, out))
            self.fc_ins.append(nn.Linear(fc_out_channels, out))
        self.relu = nn.ReLU(inplace=True)
        if init_cfg is None:
            self._default_init()

    def _default_init(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear) and self.init_std is not None:
                nn.init.normal_(m.weight, 0, self.init_std)
                nn.init.zeros_(m.bias)
        bias = -math.log((1 - self.cls_bias_prob) / self.cls_bias_prob)
        for fc in list(self.fc_cls)[1:]:
            nn.init.constant_(fc.bias, bias)

    def num_outputs(self, stage: int) -> int:
        """Classes scored at ``stage`` (C + 1 at stage 0, C after)."""
        return self.num_classes + 1 if stage == 0 else self.num_classes

    def forward(self, x: Tensor, stage: int) -> Tuple[Tensor, Tensor]:
        """Scores of RoI features.

        Args:
            x (Tensor): (M, in_channels, S, S) RoI features.
            stage (int): 0 or 1.

        Returns:
            tuple[Tensor, Tensor]: class logits and instance logits, each
            (M, :meth:`num_outputs`).
        """
        if not 0 <= stage < self.num_stages:
            raise ValueError(f'stage must be in [0, {self.num_stages}), got {stage}')
        x = x.flatten(1)
        for fc in self.shared_fcs:
            x = self.relu(fc(x))
        return self.fc_cls[stage](x), self.fc_ins[stage](x)


