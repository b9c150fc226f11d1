"""Malicious-file corpus: every loader route refuses files that try to run code.

Each payload, when unpickled by a plain ``pickle`` / ``torch.load(weights_only=False)``,
creates (or truncates) a marker file. Every route must raise a clear error
naming what it refused, and the marker must never appear.
"""
import functools
import http.server
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import vision_sparse  # noqa: F401 - applies the CheckpointLoader patch
from vision_sparse.utils.checkpoint import load_checkpoint, load_checkpoint_file
from vision_sparse.utils.safe_pickle import SAFE_GLOBALS, load_npy, safe_loads

REPO_ROOT = Path(__file__).resolve().parents[2]
CFG = 'configs/toy/toy_linear-sgd_40it_synthetic.py'
REFUSED = 'not on the safe list|refused by the safe'


class _Reduce:
    """Unpickles as ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _system(marker):
    return _Reduce(os.system, f'touch {marker}')


def _evaluator(marker):
    # construction of an mmengine class builds a registry type: os.system(command)
    from mmengine.evaluator import Evaluator
    return _Reduce(Evaluator, dict(type='os.system', command=f'touch {marker}'))


def _logger(marker):
    # MMLogger opens its log file with mode 'w': creates or truncates any path
    from mmengine.logging import MMLogger
    return _Reduce(MMLogger, 'vs_evil', 'mmengine', str(marker))


PAYLOADS = dict(system=_system, evaluator=_evaluator, logger=_logger)


def _checkpoint(tmp_path, kind='system', name='evil.pth'):
    marker = tmp_path / f'marker_{kind}'
    if kind == 'logger':
        marker.write_text('precious')  # must be neither truncated nor removed
    path = tmp_path / name
    torch.save({'state_dict': {}, 'meta': {'x': PAYLOADS[kind](marker)}}, path)
    return path, marker


def _untouched(marker):
    if marker.name == 'marker_logger':
        return marker.read_text() == 'precious'
    return not marker.exists()


# os.system itself was refused before issue 10; classes of allowed packages were not
CLASS_PAYLOADS = ('evaluator', 'logger')


@pytest.mark.parametrize('kind', CLASS_PAYLOADS)
def test_load_checkpoint_file_refuses(tmp_path, kind):
    path, marker = _checkpoint(tmp_path, kind)
    with pytest.raises(ValueError, match=REFUSED):
        load_checkpoint_file(str(path))
    assert _untouched(marker)
    if kind == 'evaluator':  # only the user's explicit trust runs it
        load_checkpoint_file(str(path), trust=True)
        assert marker.exists()


@pytest.mark.parametrize('kind', CLASS_PAYLOADS)
def test_mmengine_checkpoint_loader_refuses(tmp_path, kind):
    from mmengine.runner.checkpoint import CheckpointLoader
    from mmengine.runner.checkpoint import load_checkpoint as mm_load_checkpoint
    path, marker = _checkpoint(tmp_path, kind)
    with pytest.raises(ValueError, match=REFUSED):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    with pytest.raises(ValueError, match=REFUSED):
        mm_load_checkpoint(torch.nn.Linear(2, 2), str(path), map_location='cpu')
    assert _untouched(marker)


def _run_tool(args):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1')
    env.pop('VISION_SPARSE_TRUST_CHECKPOINTS', None)
    return subprocess.run([sys.executable] + args, cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300, env=env)


def test_tools_test_refuses_and_exits_nonzero(tmp_path):
    path, marker = _checkpoint(tmp_path, 'evaluator')
    proc = _run_tool(['tools/test.py', CFG, str(path), '--work-dir', str(tmp_path / 'w')])
    assert proc.returncode != 0
    assert 'not on the safe list' in proc.stderr and 'Evaluator' in proc.stderr
    assert _untouched(marker)


def test_tools_train_resume_refuses(tmp_path):
    path, marker = _checkpoint(tmp_path, 'logger')
    proc = _run_tool(['tools/train.py', CFG, '--work-dir', str(tmp_path / 'w'),
                      '--resume', str(path)])
    assert proc.returncode != 0
    assert 'not on the safe list' in proc.stderr and 'MMLogger' in proc.stderr
    assert _untouched(marker)


@pytest.fixture
def http_root(tmp_path, monkeypatch):
    """A local HTTP server on 127.0.0.1 serving ``tmp_path / 'www'``; torch hub cache in tmp."""
    www = tmp_path / 'www'
    www.mkdir()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    for var in ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        monkeypatch.delenv(var, raising=False)  # 127.0.0.1 directly
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))

    class Quiet(handler.func):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


def test_http_checkpoint_refuses(http_root, tmp_path):
    from mmengine.runner.checkpoint import CheckpointLoader
    www, url = http_root
    _, marker = _checkpoint(www, 'system', 'evil.pth')
    with pytest.raises(ValueError, match=REFUSED):
        CheckpointLoader.load_checkpoint(f'{url}/evil.pth', map_location='cpu')
    with pytest.raises(ValueError, match=REFUSED):
        load_checkpoint(f'{url}/evil.pth')
    assert _untouched(marker)
    # a real (safe) checkpoint over http loads: the route works, it is not just closed
    torch.save({'state_dict': {'w': torch.arange(3.0)}}, www / 'good.pth')
    out = CheckpointLoader.load_checkpoint(f'{url}/good.pth', map_location='cpu')
    torch.testing.assert_close(out['state_dict']['w'], torch.arange(3.0))


def test_model_zoo_scheme_refuses(http_root, monkeypatch):
    # open-mmlab://NAME resolves to a URL from mmengine's model table
    from mmengine.runner import checkpoint as mm
    www, url = http_root
    _, marker = _checkpoint(www, 'evaluator', 'zoo_evil.pth')
    monkeypatch.setattr(mm, 'get_external_models', lambda: {'evil': f'{url}/zoo_evil.pth'})
    with pytest.raises(ValueError, match=REFUSED):
        mm.CheckpointLoader.load_checkpoint('open-mmlab://evil', map_location='cpu')
    assert _untouched(marker)


def test_storage_backend_scheme_refuses(tmp_path, monkeypatch):
    # s3:// bytes come from mmengine's file backend (faked here: no petrel client)
    import mmengine.fileio
    from mmengine.runner import checkpoint as mm
    path, marker = _checkpoint(tmp_path, 'system')

    class Backend:
        def get(self, filepath):
            return path.read_bytes()

    monkeypatch.setattr(mmengine.fileio, 'get_file_backend', lambda *a, **k: Backend())
    monkeypatch.setattr(mm, 'get_file_backend', lambda *a, **k: Backend(), raising=False)
    with pytest.raises(ValueError, match=REFUSED) as err:
        mm.CheckpointLoader.load_checkpoint('s3://bucket/evil.pth', map_location='cpu')
    assert 's3://bucket/evil.pth' in str(err.value)
    assert _untouched(marker)


def test_every_mmengine_scheme_is_routed_through_the_safe_loader():
    from mmengine.runner.checkpoint import CheckpointLoader

    from vision_sparse.utils.patches import load_from_safe_loader
    assert CheckpointLoader._schemes and all(
        fn is load_from_safe_loader for fn in CheckpointLoader._schemes.values())


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match='no safe loader'):
        load_checkpoint('ftp://example.com/model.pth')


# ----------------------------------------------------------------- data files
def _info_pickle(tmp_path, payload):
    path = tmp_path / 'evil_infos.pkl'
    with open(path, 'wb') as f:
        pickle.dump({'metainfo': {}, 'data_list': [{'sample_idx': 0, 'x': payload}]}, f)
    return path


@pytest.mark.parametrize('kind', sorted(PAYLOADS))
def test_det3d_info_refuses(tmp_path, kind):
    from vision_sparse.datasets.formats import load_det3d_info
    marker = tmp_path / f'marker_{kind}'
    if kind == 'logger':
        marker.write_text('precious')
    path = _info_pickle(tmp_path, PAYLOADS[kind](marker))
    with pytest.raises(ValueError, match='refused by the safe unpickler'):
        load_det3d_info(path)
    assert _untouched(marker)


def test_det3d_info_trusted_mode(tmp_path):
    from vision_sparse.datasets.formats import load_det3d_info
    marker = tmp_path / 'marker_system'
    path = _info_pickle(tmp_path, _system(marker))
    assert len(load_det3d_info(path, trusted=True)) == 1
    assert marker.exists()


def test_shared_info_layouts_still_load():
    from vision_sparse.datasets.formats import load_det3d_info
    from vision_sparse.testing.data import shared_data_root
    root = shared_data_root()
    if root is None:
        pytest.skip('no shared sample data')
    files = sorted(Path(root).rglob('*.pkl'))
    assert files
    for f in files:
        with open(f, 'rb') as fh:
            plain = pickle.load(fh)  # noqa: S301 - our own sample data
        assert safe_loads(f.read_bytes(), str(f)).keys() == plain.keys()
        assert len(load_det3d_info(f)) == len(plain['data_list'])


def _evil_npy(tmp_path, marker):
    path = tmp_path / 'img.npy'
    records = [dict(segmentation=np.ones((4, 4), bool), bbox=[0, 0, 4, 4], area=16,
                    predicted_iou=0.9, stability_score=0.9, evil=_system(marker))]
    np.save(path, np.array(records, dtype=object), allow_pickle=True)
    return path


def test_mask_npy_refuses(tmp_path):
    from vision_sparse.models.area_matchers.area_sources.mask_file_source import (
        MaskFileAreaSource, load_mask_file)
    marker = tmp_path / 'marker_system'
    path = _evil_npy(tmp_path, marker)
    with pytest.raises(ValueError, match='refused by the safe unpickler.*system'):
        load_mask_file(path, (4, 4))
    with pytest.raises(ValueError, match='refused by the safe unpickler'):
        MaskFileAreaSource(root=str(tmp_path))(np.zeros((4, 4, 3), np.uint8), name='img.jpg')
    with pytest.raises(ValueError, match='refused by the safe unpickler'):
        load_npy(path)
    assert _untouched(marker)
    # trusted: the user's explicit choice
    MaskFileAreaSource(root=str(tmp_path), trusted=True)(np.zeros((4, 4, 3), np.uint8),
                                                         name='img.jpg')
    assert marker.exists()


def test_safe_unpickler_admits_data_only(tmp_path):
    data = {'a': [1, 2.5, 'x', b'y', None, True, (3, 4j)], 'b': {1, 2}, 'c': frozenset([3]),
            'arr': np.arange(6, dtype=np.float32).reshape(2, 3), 's': np.int64(7),
            'dt': np.dtype('<f8'), 'obj': np.array([{'k': 1}], dtype=object)}
    for proto in (2, 4, 5):
        out = safe_loads(pickle.dumps(data, protocol=proto))
        assert out['a'] == data['a'] and out['b'] == data['b'] and out['s'] == 7
        np.testing.assert_array_equal(out['arr'], data['arr'])
        assert out['obj'][0] == {'k': 1} and out['dt'] == data['dt']
    assert ('builtins', 'eval') not in SAFE_GLOBALS
    with pytest.raises(ValueError, match='builtins.eval is not allowed'):
        safe_loads(pickle.dumps(_Reduce(eval, '1')))
    with pytest.raises(ValueError, match='truncated or corrupt'):
        safe_loads(pickle.dumps(data)[:50])
