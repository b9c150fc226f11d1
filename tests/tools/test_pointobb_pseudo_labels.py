"""tools/train.py -> tools/pointobb_pseudo_labels.py -> DOTADataset: a tiny PointOBB trains a
few iterations on the synthetic aerial set, its pseudo boxes are written as DOTA txt (one
per annotated point, images written for the rendered set), scored against the true boxes,
and load back as a training set for an oriented detector."""
import json

import pytest

from vision_sparse.testing.data import shared_data_path

from ..conftest import REPO_ROOT, run_py

CLASSES = ('ship', 'small-vehicle', 'storage-tank')


def _write_config(path, data_root):
    from tests.models.pointobb.helpers import tiny_model_cfg
    model = tiny_model_cfg()
    model['roi_head']['bbox_head']['num_classes'] = len(CLASSES)
    base = REPO_ROOT / 'configs' / '_base_'
    text = f"""
_base_ = [{str(base / 'datasets' / 'synthetic-aerial.py')!r},
          {str(base / 'schedules' / 'adamw_600it.py')!r},
          {str(base / 'default_runtime.py')!r}]
model = {model!r}
data_root = {str(data_root)!r}
_ds = dict(data_root=data_root, num_images=3, img_size=(160, 160), num_objects=(2, 4),
           metainfo=dict(classes={CLASSES!r}))
train_dataloader = dict(dataset=_ds)
val_dataloader = dict(dataset=_ds)
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='PseudoBoxMetric', angle_agnostic_classes=['storage-tank'])
test_evaluator = val_evaluator
train_cfg = dict(max_iters=3, val_interval=100)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False))
log_processor = dict(by_epoch=False)
"""
    path.write_text(text)
    return path


def test_train_then_write_pseudo_labels(tmp_path):
    data_root = shared_data_path('oriented')
    if data_root is None:
        pytest.skip('shared sample data oriented/ not found (set $VISION_SPARSE_DATA)')
    cfg = _write_config(tmp_path / 'pointobb_tiny.py', data_root)
    work = tmp_path / 'work'
    run_py(['tools/train.py', str(cfg), '--work-dir', str(work)], timeout=900)
    ckpt = work / 'iter_3.pth'
    assert ckpt.is_file()
    out = tmp_path / 'pseudo'
    proc = run_py(['tools/pointobb_pseudo_labels.py', str(cfg), str(ckpt), '--out', str(out),
                   '--show-dir', str(tmp_path / 'vis'), '--show', '1'], timeout=900)
    summary = json.loads((out / 'pseudo_label_summary.json').read_text())
    assert summary['num_images'] == 3 and 0.0 <= summary['mIoU'] <= 1.0
    assert 'angle_err_deg' in summary
    assert 'pseudo labels written' in proc.stdout
    assert len(list((out / 'labelTxt').glob('*.txt'))) == 3
    assert len(list((out / 'images').glob('*.png'))) == 3  # rendered images are written
    assert len(list((tmp_path / 'vis').glob('*.png'))) == 1

    # the folder is a DOTA training set with one box per annotated point
    from mmengine.registry import DefaultScope
    from vision_sparse.registry import DATASETS
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        truth = DATASETS.build(dict(type='SyntheticAerialDataset', data_root=str(data_root),
                                    num_images=3, img_size=(160, 160), num_objects=(2, 4),
                                    metainfo=dict(classes=CLASSES), pipeline=[]))
        pseudo = DATASETS.build(dict(type='DOTADataset', data_root=str(out),
                                     metainfo=dict(classes=CLASSES), pipeline=[]))
    n_truth = sum(len(truth.get_data_info(i)['instances']) for i in range(len(truth)))
    n_pseudo = sum(len(pseudo.get_data_info(i)['instances']) for i in range(len(pseudo)))
    assert n_pseudo == n_truth == summary['num_boxes']
