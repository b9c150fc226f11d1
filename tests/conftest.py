import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


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
