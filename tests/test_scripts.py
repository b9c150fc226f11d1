"""The package and its scripts hold no machine paths and do not edit ``sys.path``.

Scripts (tools/, demo/, benchmarks/) import the installed package; paths to data
are relative to the repository or the working directory, or found by
``vision_sparse.testing.data.shared_data_root``.
"""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ('vision_sparse', 'tools', 'demo', 'benchmarks', 'configs')
TEXT_SUFFIXES = {'.py', '.sh', '.cfg', '.toml', '.md', '.txt', '.h', '.hpp', '.cpp', '.cu',
                 '.cuh', '.yaml', '.yml', '.json'}

SYS_PATH = re.compile(r'sys\.path\.(?:insert|append|extend)\b|sys\.path\s*(?:\+=|=[^=])')
#: an absolute path into a home or work folder (not part of a URL or a relative path)
MACHINE_PATH = re.compile(r'(?<![\w./~:-])/(?:work|home|root|Users|mnt|scratch)/')


def _files():
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob('*')):
            if path.is_file() and path.suffix in TEXT_SUFFIXES and '__pycache__' not in path.parts:
                yield path


FILES = list(_files())


def _hits(pattern):
    hits = []
    for path in FILES:
        for no, line in enumerate(path.read_text(errors='replace').splitlines(), 1):
            if pattern.search(line):
                hits.append(f'{path.relative_to(REPO)}:{no}: {line.strip()}')
    return hits


def test_the_tree_is_searched():
    names = {p.relative_to(REPO).as_posix() for p in FILES}
    assert 'tools/train.py' in names and 'demo/run_all.py' in names
    assert any(n.startswith('benchmarks/') for n in names)
    assert any(n.startswith('configs/') for n in names)


def test_no_sys_path_edits():
    hits = _hits(SYS_PATH)
    assert not hits, ('scripts import the installed package (pip install -e .; in a checkout '
                      'run them with PYTHONPATH=.), they must not edit sys.path:\n'
                      + '\n'.join(hits))


def test_no_machine_paths():
    hits = _hits(MACHINE_PATH)
    assert not hits, ('absolute machine paths: use paths relative to the repository or '
                      'vision_sparse.testing.data.shared_data_root():\n' + '\n'.join(hits))


@pytest.mark.parametrize('line, bad', [
    ("sys.path.insert(0, ROOT)", True), ("sys.path.append('x')", True),
    ("sys.path = [ROOT] + sys.path", True), ("if sys.path == x:", False),
    ("print(sys.path)", False)])
def test_sys_path_pattern(line, bad):
    assert bool(SYS_PATH.search(line)) is bad


# the absolute paths the pattern must catch are built here, so that this file names none
_TOPS = ('work', 'home', 'root', 'Users', 'mnt', 'scratch')


@pytest.mark.parametrize('line, bad', [
    *[(f"DEFAULT = '/{top}/shared/data/x.jpg'", True) for top in _TOPS],
    *[(f'p = "/{top}/me/data"', True) for top in _TOPS],
    *[(f"open('/{top}/x')", True) for top in _TOPS],
    ("'../shared/data'", False),
    ("https://example.com/home/page", False), ("'work_dirs/home/x'", False),
    ("a = b/home/c", False)])
def test_machine_path_pattern(line, bad):
    assert bool(MACHINE_PATH.search(line)) is bad
