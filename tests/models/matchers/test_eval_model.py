"""MatcherEvalModel and the bare-matcher configs run by tools/test.py."""
import importlib.util

import numpy as np
import pytest
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from vision_sparse.models.matchers import MatcherEvalModel, SIFTMatcher, to_pair_list
from vision_sparse.registry import MODELS
from vision_sparse.testing import shared_data_root
from vision_sparse.testing.synthetic_pairs import SyntheticHomographyPairs

from .helpers import check_output, inlier_ratio


@pytest.fixture(scope='module')
def model():
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        return MODELS.build(dict(type='MatcherEvalModel', method_name='sift',
                                 matcher=dict(type='SIFTMatcher', resize_max=320)))


@pytest.fixture(scope='module')
def items():
    ds = SyntheticHomographyPairs(num_pairs=2, resize=320, seed=1, max_rotation_deg=10,
                                  perspective=0.05)
    return [ds[0], ds[1]]


def test_test_step_adds_matches(model, items):
    for batch in (items, pseudo_collate(items)):
        out = model.test_step(batch)
        assert len(out) == 2
        for res, item in zip(out, items):
            assert res['method'] == 'sift' and res['name0'] == item['name0']
            assert check_output(res) >= 20
            assert inlier_ratio(res, item['H_0to1'], 3.0) >= 0.6
    assert len(model.val_step(items)) == 2


def test_errors(model, items):
    with pytest.raises(ValueError, match='predict'):
        model(items, mode='loss')
    with pytest.raises(ValueError, match='BaseMatcher'):
        MatcherEvalModel(matcher=dict(type='ToyRegressor', in_dim=2, out_dim=1))
    with pytest.raises(ValueError, match='list'):
        to_pair_list('nope')
    with pytest.raises(ValueError, match='one value per pair'):
        to_pair_list(dict(image0=[1, 2], image_size0=[[1, 2], [3, 4], [5, 6]]))
    assert isinstance(MatcherEvalModel(matcher=SIFTMatcher()).matcher, SIFTMatcher)


@pytest.mark.skipif(shared_data_root() is None,
                    reason='ScanNet sample pairs (../shared/data) are needed; set VISION_SPARSE_DATA')
def test_tools_test_runs_the_sift_config(tmp_path, repo_root, monkeypatch):
    """End to end: tools/test.py + ScanNetPairsDataset + SIFT + RelativePoseMetric (2 pairs)."""
    monkeypatch.chdir(repo_root)  # the config's data_root is relative to the repository
    spec = importlib.util.spec_from_file_location('vs_tools_test', repo_root / 'tools' / 'test.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'metrics.json'
    metrics = tool.main(['configs/matcher/matcher_sift_test_scannet-sample.py', '--work-dir', str(tmp_path),
                         '--out', str(out), '--cfg-options', 'test_dataloader.dataset.max_pairs=2'])
    for key in ('sift/auc@5', 'sift/auc@10', 'sift/auc@20', 'sift/precision',
                'sift/num_matches'):
        assert key in metrics
    assert metrics['sift/num_pairs'] == 2
    assert 0 <= metrics['sift/auc@20'] <= 100
    assert out.is_file()
