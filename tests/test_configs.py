"""Every config under configs/ follows the naming rule, inherits the bases, loads and builds.

The rule (configs/README.md): ``{method}_{component}_{schedule}_{data}.py``.
"""
import ast
import re
from pathlib import Path
from typing import List

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from vision_sparse.registry import DATASETS, MODELS

CONFIG_ROOT = Path(__file__).resolve().parents[1] / 'configs'
BASE_ROOT = CONFIG_ROOT / '_base_'
CONFIGS = sorted(p for p in CONFIG_ROOT.rglob('*.py') if '_base_' not in p.parts)
IDS = [str(p.relative_to(CONFIG_ROOT)) for p in CONFIGS]

_WORDS = r'[a-z0-9]+(?:-[a-z0-9]+)*'
NAME_RE = re.compile(rf'^(?P<method>[a-z0-9]+)_(?P<component>{_WORDS})_'
                     rf'(?P<schedule>test|[0-9]+(?:it|e))_(?P<data>{_WORDS})$')
#: abbreviations that must not appear next to the full word (one spelling per component)
ALIASES = {'lg': 'lightglue', 'sp': 'superpoint', 'sg': 'superglue', 'xf': 'xfeat',
           'al': 'aliked'}


def _bases(path: Path) -> List[Path]:
    """The ``_base_`` files a config names (read without executing it)."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '_base_'
                                                for t in node.targets):
            value = ast.literal_eval(node.value)
            names = [value] if isinstance(value, str) else list(value)
            return [(path.parent / n).resolve() for n in names]
    return []


def _all_bases(path: Path) -> List[Path]:
    out, todo = [], _bases(path)
    while todo:
        b = todo.pop()
        if b not in out:
            out.append(b)
            todo.extend(_bases(b))
    return out


def _is_abbreviation(short: str, word: str) -> bool:
    """``short`` keeps the first letter of ``word`` and some later ones, in order."""
    if len(short) >= len(word) or short[0] != word[0]:
        return False
    it = iter(word)
    return all(ch in it for ch in short)


def test_there_are_configs():
    assert CONFIGS, f'no configs found under {CONFIG_ROOT}'


@pytest.mark.parametrize('path', CONFIGS, ids=IDS)
def test_config_name_follows_the_rule(path):
    m = NAME_RE.match(path.stem)
    assert m, (f'{path.name} does not follow {{method}}_{{component}}_{{schedule}}_{{data}}.py '
               '(lowercase words joined by "-", schedule "test" or "<N>it" / "<N>e"); '
               'see configs/README.md')
    assert m['method'] == path.parent.name, \
        f'{path.name}: the method ({m["method"]}) must be the folder name ({path.parent.name})'


def test_name_rule_rejects_the_old_names():
    for bad in ('sift_bare_scannet_sample', 'a2pm_aliked-lg_mesa-dmesa_scannet_sample',
                'toy_linear_sgd_40it_synthetic', 'favor_xfeat_g3_100it_synthetic',
                'Favor_xfeat_100it_synthetic', 'favor_xfeat_100_synthetic'):
        assert not NAME_RE.match(bad), bad
    assert NAME_RE.match('favor_xfeat-g3_100it_7scenes-stairs-interleaved')


@pytest.mark.parametrize('path', CONFIGS, ids=IDS)
def test_config_inherits_the_bases(path):
    """A config only overrides: it has a `_base_` and reaches the runtime and one
    model, a dataset and a schedule base (directly or through a sibling config)."""
    direct = _bases(path)
    assert direct, f'{path.name} has no _base_: configs override bases (configs/README.md)'
    for b in direct:
        assert b.is_file(), f'{path.name}: base {b} does not exist'
    bases = _all_bases(path)
    assert BASE_ROOT / 'default_runtime.py' in bases, f'{path.name} misses default_runtime.py'
    for kind in ('models', 'datasets', 'schedules'):
        found = [b for b in bases if b.parent == BASE_ROOT / kind]
        assert found, f'{path.name} must inherit a _base_/{kind} file'


def test_one_spelling_per_component():
    words = {}
    for path in CONFIGS:
        m = NAME_RE.match(path.stem)
        if m:
            for w in m['component'].split('-'):
                words.setdefault(w, []).append(path.name)
    for short, full in ALIASES.items():
        assert short not in words, (f'component word {short!r} ({words.get(short)}): '
                                    f'spell it {full!r}')
    for short in words:
        for word in words:
            assert not _is_abbreviation(short, word), \
                f'{short!r} ({words[short]}) looks like an abbreviation of {word!r} ({words[word]})'


def test_every_base_is_used():
    used = {b for p in CONFIGS for b in _all_bases(p)}
    unused = sorted(str(b.relative_to(CONFIG_ROOT)) for b in BASE_ROOT.rglob('*.py')
                    if b.resolve() not in used)
    assert not unused, f'unused base configs: {unused}'


@pytest.mark.parametrize('path', CONFIGS, ids=IDS)
def test_config_builds(path):
    cfg = Config.fromfile(str(path))
    assert cfg.get('default_scope') == 'vision_sparse'
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        model = MODELS.build(cfg.model)
        assert model is not None
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            loader = cfg.get(key)
            if loader and cfg.get('build_datasets_in_test', True):
                DATASETS.build(loader['dataset'])
