"""merge_conf and build_from_cfg_or_obj: the one options style and the one build helper."""
import pytest
import torch.nn as nn
from mmengine.registry import Registry

from vision_sparse.utils import build_from_cfg_or_obj, merge_conf


def test_merge_conf_overrides_and_copies():
    default = dict(a=1, b=2)
    out = merge_conf(default, dict(b=3), 'Thing')
    assert out == dict(a=1, b=3)
    assert default == dict(a=1, b=2)  # defaults untouched
    assert merge_conf(default, None, 'Thing') == default
    assert merge_conf(default, None, 'Thing') is not default


def test_merge_conf_names_unknown_options():
    with pytest.raises(ValueError, match=r"Thing got unknown options \['c', 'd'\].*\['a', 'b'\]"):
        merge_conf(dict(a=1, b=2), dict(d=0, c=0, a=5), 'Thing')


_REG = Registry('test_build_helper')


@_REG.register_module()
class _Lin(nn.Linear):
    pass


def test_build_from_cfg_or_obj_paths():
    built = build_from_cfg_or_obj(dict(type='_Lin', in_features=2, out_features=3), _REG)
    assert isinstance(built, _Lin) and built.out_features == 3
    # no type: the default class, with extra keys added
    d = build_from_cfg_or_obj(dict(in_features=4), _REG, default_type=nn.Linear, out_features=1)
    assert isinstance(d, nn.Linear) and (d.in_features, d.out_features) == (4, 1)
    # a built object passes through unchanged
    assert build_from_cfg_or_obj(built, _REG) is built
    # None: default object, or None when allowed
    assert build_from_cfg_or_obj(None, _REG) is None
    assert isinstance(build_from_cfg_or_obj(None, _REG, default_type=nn.Identity), nn.Identity)
    assert build_from_cfg_or_obj(None, _REG, default_type=nn.Identity, allow_none=True) is None


def test_build_from_cfg_or_obj_errors():
    with pytest.raises(ValueError, match='matcher config needs a "type"'):
        build_from_cfg_or_obj(dict(a=1), _REG, name='matcher')
    with pytest.raises(ValueError, match='matcher must be a config dict or a built module, got int'):
        build_from_cfg_or_obj(3, _REG, name='matcher')
