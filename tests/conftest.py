import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Point ``$VISION_SPARSE_DATA`` at the shared sample data when it is not set.

    The library finds no data folder by itself (``RelocalizationDataset`` with
    ``default_subdir`` reads ``$VISION_SPARSE_DATA``); the tests use the sample
    data next to the repository (:func:`vision_sparse.testing.shared_data_root`).
    """
    if not os.environ.get('VISION_SPARSE_DATA'):
        from vision_sparse.testing.data import shared_data_root
        root = shared_data_root()
        if root is not None:
            os.environ['VISION_SPARSE_DATA'] = str(root)


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test: tiny tensors run faster, and robustly on a
    busy machine (use with ``pytestmark = pytest.mark.usefixtures('one_torch_thread')``)."""
    from vision_sparse.utils import torch_threads
    with torch_threads(1):
        yield


def run_py(args, cwd=None, timeout=600, env=None):
    """Run a python command in a subprocess; raise with its output on failure."""
    import subprocess
    full_env = dict(os.environ)
    full_env['PYTHONPATH'] = str(REPO_ROOT) + os.pathsep + full_env.get('PYTHONPATH', '')
    full_env.setdefault('PYTHONUNBUFFERED', '1')
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable] + list(args), cwd=cwd or REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout, env=full_env)
    if proc.returncode != 0:
        raise AssertionError(f'command {args} failed ({proc.returncode}):\n'
                             f'{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}')
    return proc
