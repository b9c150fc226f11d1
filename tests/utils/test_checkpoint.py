"""Safe checkpoint loading under torch.load(weights_only=True)."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from vision_sparse.utils.checkpoint import (ALLOWED_GLOBALS, _restricted_getattr,
                                            load_checkpoint_file)
from vision_sparse.utils.patches import apply_patches, load_from_safe_loader


class _RunsCode:
    def __reduce__(self):
        return (os.getcwd, ())


def test_mmengine_objects_load(tmp_path):
    buf = HistoryBuffer()
    buf.update(1.5)
    buf.update(0.5)
    obj = dict(state_dict={'w': torch.arange(3.0)}, hub=dict(loss=buf),
               meta=dict(arr=np.arange(4, dtype=np.float64), seed=np.int64(7)))
    path = tmp_path / 'ck.pth'
    torch.save(obj, path)
    out = load_checkpoint_file(str(path))
    torch.testing.assert_close(out['state_dict']['w'], torch.arange(3.0))
    assert out['hub']['loss'].mean() == pytest.approx(1.0)
    np.testing.assert_array_equal(out['meta']['arr'], np.arange(4.0))
    assert int(out['meta']['seed']) == 7


def test_code_executing_pickle_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': _RunsCode()}, path)
    with pytest.raises(ValueError, match=r'not on the safe list.*getcwd'):
        load_checkpoint_file(str(path))
    # only when the user says they trust the file
    assert load_checkpoint_file(str(path), trust=True)['x'] == os.getcwd()


def test_restricted_getattr():
    assert _restricted_getattr(HistoryBuffer, 'min') is HistoryBuffer.min
    with pytest.raises(pickle.UnpicklingError):
        _restricted_getattr(os, 'system')
    with pytest.raises(pickle.UnpicklingError):
        _restricted_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        _restricted_getattr(dict, 'get')
    with pytest.raises(pickle.UnpicklingError):  # public, but not a statistics method
        _restricted_getattr(HistoryBuffer, 'update')
    from mmengine.logging import MMLogger
    with pytest.raises(pickle.UnpicklingError):  # another mmengine class
        _restricted_getattr(MMLogger, 'get_instance')


def test_missing_file():
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_file('/nonexistent/nope.pth')


def test_installed_as_mmengine_local_loader(tmp_path):
    apply_patches()  # done by `import vision_sparse`; idempotent
    assert CheckpointLoader._get_checkpoint_loader('/some/file.pth') is load_from_safe_loader
    buf = HistoryBuffer()
    buf.update(2.0)
    path = tmp_path / 'ck.pth'
    torch.save(dict(state_dict={}, message_hub=dict(log_scalars=dict(loss=buf))), path)
    out = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert out['message_hub']['log_scalars']['loss'].current() == 2.0


def test_allow_list_names_exact_globals_only(tmp_path):
    # exact names, never a package; mmengine's only class is HistoryBuffer
    assert all(n.count('.') >= 1 and not n.endswith('.') for n in ALLOWED_GLOBALS)
    assert [n for n in ALLOWED_GLOBALS if n.startswith(('mmengine', 'vision_sparse'))] == [
        'mmengine.logging.history_buffer.HistoryBuffer']
    # a side-effect-free class of our own package is still not allowed
    from vision_sparse.structures.bbox.rotated_boxes import RotatedBoxes
    torch.save({'b': RotatedBoxes(torch.zeros(1, 5))}, tmp_path / 'b.pth')
    with pytest.raises(ValueError, match='not on the safe list.*RotatedBoxes'):
        load_checkpoint_file(str(tmp_path / 'b.pth'))
