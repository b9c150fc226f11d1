"""Two-process DDP training on CPU (gloo) through torchrun."""
import json

import numpy as np
import pytest
import torch.distributed as dist

from ..conftest import run_py


def _free_port() -> int:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                    reason='torch.distributed with gloo is not available')
def test_two_process_gloo_training(tmp_path, repo_root):
    # a free port, so that parallel test runs on one machine do not collide
    run_py(['-m', 'torch.distributed.run', '--nproc_per_node=2',
            f'--master_port={_free_port()}', '--master_addr=127.0.0.1',
            str(repo_root / 'tests/tools/ddp_worker.py'), str(tmp_path)], timeout=600)
    infos = [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in (0, 1)]
    assert [i['rank'] for i in infos] == [0, 1]
    assert all(i['world_size'] == 2 for i in infos)
    assert all(i['wrapper'] == 'MMDistributedDataParallel' for i in infos)
    assert all(i['iter'] == 40 for i in infos)
    # gradients were all-reduced: both replicas hold identical weights ...
    for k in infos[0]['params']:
        np.testing.assert_array_equal(infos[0]['params'][k], infos[1]['params'][k])
    # ... and they learnt the true linear map of the synthetic data
    from vision_sparse.testing import SyntheticRegressionDataset
    ds = SyntheticRegressionDataset(num_samples=64, seed=0)
    w = np.array(infos[0]['params']['linear.weight']).reshape(ds.A.shape)
    b = np.array(infos[0]['params']['linear.bias'])
    mse = ((ds.x @ w.T + b - ds.y) ** 2).mean()
    baseline = ((ds.y - ds.y.mean(0)) ** 2).mean()  # best constant predictor
    assert mse < 0.25 * baseline, (mse, baseline)
    assert (tmp_path / 'work' / 'iter_40.pth').is_file()
