"""Distributed-training set-up that also works on machines without a GPU.

mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and its default DDP wrapper
passes ``device_ids=[LOCAL_RANK]``; both fail for CPU processes.  When no GPU is
usable, :func:`prepare_distributed` initialises a ``gloo`` process group itself
(mmengine then skips its own initialisation) and makes the model wrapper use
``device_ids=None`` (what PyTorch DDP wants for CPU modules).
"""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def prepare_distributed(cfg: Config, launcher: str) -> Config:
    """Adapt ``cfg`` (in place) for ``launcher`` and initialise CPU DDP if needed.

    Args:
        cfg (Config): the run's config.
        launcher (str): 'none', 'pytorch', 'slurm' or 'mpi'.

    Returns:
        Config: ``cfg``.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return cfg
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)
    wrapper.setdefault('broadcast_buffers', False)
    cfg.model_wrapper_cfg = wrapper
    if launcher == 'pytorch' and not torch_dist.is_initialized():
        missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
                   if k not in os.environ]
        if missing:
            raise ValueError(f'launcher=pytorch needs the environment variables {missing} '
                             '(start the script with torchrun / tools/dist_train.sh)')
        torch_dist.init_process_group(backend='gloo')
    return cfg


__all__ = ['prepare_distributed']
