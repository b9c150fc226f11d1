"""The PointOBB parts from an mmdet / mmrotate-style project: ``custom_imports=['vision_sparse']``
and ``type='vision_sparse.<Part>'`` build the RoI extractor, angle head, losses, coder,
bag generator, datasets, transforms and metrics through mmdet's registries, in a fresh
interpreter (the parts that subclass mmdet classes are registered lazily)."""
import os
import subprocess
import sys
from pathlib import Path

FRESH = r'''
import torch
from mmdet.registry import DATASETS, METRICS, MODELS, TASK_UTILS, TRANSFORMS
from mmdet.utils import register_all_modules
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings
import_modules_from_strings(imports=['vision_sparse'], allow_failed_imports=False)
register_all_modules(init_default_scope=False)
built = []
with DefaultScope.overwrite_default_scope('mmdet'):
    ext = MODELS.build(dict(type='vision_sparse.RotatedSingleRoIExtractor',
                            roi_layer=dict(type='RoIAlignRotated', output_size=7,
                                           sampling_ratio=2, clockwise=True),
                            out_channels=8, featmap_strides=[4, 8]))
    feats = (torch.randn(1, 8, 32, 32), torch.randn(1, 8, 16, 16))
    rois = torch.tensor([[0, 40.0, 50.0, 30.0, 12.0, 0.4], [0, 60.0, 60.0, 120.0, 60.0, -1.0]])
    assert ext(feats, rois).shape == (2, 8, 7, 7)
    built.append(type(ext).__name__)
    for cfg in (dict(type='vision_sparse.PointOBBAngleHead', in_channels=8, feat_channels=8,
                     strides=(4, 8)),
                dict(type='vision_sparse.MILLoss'), dict(type='vision_sparse.SSCLoss'),
                dict(type='vision_sparse.AngleConsistencyLoss'),
                dict(type='vision_sparse.RoIAlignRotated', output_size=7, clockwise=True)):
        built.append(type(MODELS.build(cfg)).__name__)
    for cfg in (dict(type='vision_sparse.PSCCoder'), dict(type='vision_sparse.PointBagGenerator')):
        built.append(type(TASK_UTILS.build(cfg)).__name__)
    for cfg in (dict(type='vision_sparse.DOTAMetric'), dict(type='vision_sparse.PseudoBoxMetric')):
        built.append(type(METRICS.build(cfg)).__name__)
    for cfg in (dict(type='vision_sparse.LoadOrientedAnnotations'),
                dict(type='vision_sparse.PackOrientedDetInputs')):
        built.append(type(TRANSFORMS.build(cfg)).__name__)
    built.append(DATASETS.get('vision_sparse.DOTADataset').__name__)
print(' '.join(built))
'''


def test_parts_build_from_an_mmdet_project():
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, '-c', FRESH], cwd=root, capture_output=True,
                         text=True, timeout=300, env={**os.environ, 'PYTHONPATH': str(root)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == [
        'RotatedSingleRoIExtractor', 'PointOBBAngleHead', 'MILLoss', 'SSCLoss',
        'AngleConsistencyLoss', 'RoIAlignRotated', 'PSCCoder', 'PointBagGenerator', 'DOTAMetric',
        'PseudoBoxMetric', 'LoadOrientedAnnotations', 'PackOrientedDetInputs', 'DOTADataset']


def test_agnostic_classes_given_once_reach_the_angle_head():
    from vision_sparse.models.detectors import PointOBB
    head = PointOBB._with_agnostic_labels(dict(type='PointOBBAngleHead'), [9, 1])
    assert head['angle_agnostic_labels'] == [1, 9]
    same = PointOBB._with_agnostic_labels(dict(type='X', angle_agnostic_labels=[1, 9]), [9, 1])
    assert same['angle_agnostic_labels'] == [1, 9]
    import pytest
    with pytest.raises(ValueError, match='differ from rotation_agnostic_labels'):
        PointOBB._with_agnostic_labels(dict(type='X', angle_agnostic_labels=[2]), [1])
