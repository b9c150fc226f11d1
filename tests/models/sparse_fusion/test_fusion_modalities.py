"""SparseFusion's three modalities built from their configs: training steps, falling losses
on a tiny hand-built scene (points on box surfaces + two rendered camera views), the
prediction contract, the fusion layer's scores and bad input."""
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from tests.models.sparse_fusion.test_sparse_fusion_lidar import box_surface_points
from tests.models.sparsefusion_camera.synthetic import IMG_SHAPE, render, rig, scene
from vision_sparse.registry import MODELS

CONFIGS = Path(__file__).resolve().parents[3] / 'configs/sparsefusion'


def config(modality: str) -> Config:
    return Config.fromfile(str(CONFIGS / f'sparsefusion_tiny-{modality}_600it_synthetic-fusion.py'))


def build(modality: str, **overrides):
    """The tiny model of a config (default data preprocessor: the batches here are
    already normalised), 2 camera views of 64 x 96."""
    init_default_scope('vision_sparse')
    torch.manual_seed(0)
    cfg = config(modality).model
    cfg.pop('data_preprocessor')
    cfg.update(overrides)
    return MODELS.build(cfg)


def batch(batch_size: int = 1, with_points: bool = True, with_imgs: bool = True,
          with_img_shape: bool = True):
    """``(inputs, data_samples)`` of the camera tests' two-view scene (3 boxes of
    classes 0 / 1; points with 5 columns like the synthetic sweeps)."""
    boxes, labels = scene()
    cam2img, l2c, l2i = rig()
    gen = torch.Generator().manual_seed(0)
    ground = torch.cat([torch.rand(400, 2, generator=gen) * 40 - 20, torch.full((400, 1), -1.0),
                        torch.rand(400, 1, generator=gen)], 1)
    pts = torch.cat([ground] + [box_surface_points(b, 120, gen) for b in boxes])
    pts = torch.cat([pts, torch.zeros(len(pts), 1)], 1)
    imgs = render(boxes, labels, cam2img, l2c)
    samples = []
    for i in range(batch_size):
        meta = dict(sample_idx=i, box_type_3d='LiDAR', lidar2img=l2i.numpy(),
                    cam2img=cam2img.numpy(), lidar2cam=l2c.numpy(), cam_names=['front', 'back'])
        if with_img_shape:
            meta['img_shape'] = IMG_SHAPE
        s = DetDataSample(metainfo=meta)
        s.gt_instances_3d = InstanceData(bboxes_3d=boxes.clone(), labels_3d=labels.clone())
        samples.append(s)
    inputs = {}
    if with_points:
        inputs['points'] = [pts.clone() for _ in range(batch_size)]
    if with_imgs:
        inputs['imgs'] = imgs[None].expand(batch_size, -1, -1, -1, -1).contiguous()
    return inputs, samples


def total(losses):
    return sum(v for k, v in losses.items() if 'loss' in k)


@pytest.mark.parametrize('modality', ['lidar', 'camera', 'fusion'])
def test_builds_trains_one_step_and_predicts_the_contract(modality):
    torch.set_num_threads(1)
    model = build(modality)
    assert model.modality == modality
    inputs, samples = batch(2)
    losses = model(inputs, samples, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values()), losses
    total(losses).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    if modality == 'fusion':  # every stage is trained by the summed losses
        for part in ('semantic_transfer', 'geometric_transfer', 'camera_head', 'fusion_layer',
                     'lidar_head', 'img_backbone', 'pts_backbone'):
            g = [p.grad for p in getattr(model, part).parameters() if p.grad is not None]
            assert g and sum(x.abs().sum() for x in g) > 0, part
    expected = dict(lidar={'loss_heatmap', 'layer_-1_loss_cls', 'layer_-1_loss_bbox'},
                    camera={'loss_heatmap_2d', 'loss_cls_2d', 'loss_bbox_2d', 'cam_loss_cls',
                            'cam_loss_bbox'},
                    fusion={'lidar_loss_heatmap', 'lidar_layer_-1_loss_cls', 'loss_heatmap_2d',
                            'cam_loss_cls', 'fusion_-1_loss_cls', 'fusion_-1_loss_bbox'})
    assert expected[modality] <= set(losses), sorted(losses)
    model.eval()
    out = model(inputs, samples, mode='predict')
    for s in out:
        pred = s.pred_instances_3d
        k = len(pred)
        assert pred.bboxes_3d.shape == (k, 9) and pred.bboxes_3d.dtype == torch.float32
        assert pred.scores_3d.shape == (k,) and pred.labels_3d.shape == (k,)
        assert pred.labels_3d.dtype == torch.int64
        assert ((pred.labels_3d >= 0) & (pred.labels_3d < 5)).all()
        assert (pred.scores_3d[:-1] >= pred.scores_3d[1:]).all()
        assert k > 0
    tensors = model(inputs, samples, mode='tensor')
    if modality == 'fusion':
        fused = tensors['fusion'][-1]
        q = 32 + 32
        assert fused['center'].shape == (2, 2, q) and fused['heatmap'].shape == (2, 5, q)
        assert fused['query_pos'].shape == (2, q, 2)
        assert fused['query_source'].tolist() == [[0] * 32 + [1] * 32] * 2


@pytest.mark.parametrize('modality', ['camera', 'fusion'])
def test_short_run_loss_falls(modality):
    """40 AdamW steps on one scene: the loss falls, within 20 s."""
    torch.set_num_threads(1)
    model = build(modality)
    inputs, samples = batch(1)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    history, start = [], time.perf_counter()
    for _ in range(40):
        loss = total(model(inputs, samples, mode='loss'))
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    elapsed = time.perf_counter() - start
    first, last = np.mean(history[:5]), np.mean(history[-5:])
    assert last < 0.7 * first, history
    assert elapsed < 20, f'{elapsed:.1f} s'


def test_camera_only_reads_images_only_and_geometric_transfer_needs_points():
    model = build('camera')
    assert model.geometric_transfer is None and not hasattr(model, 'lidar_head')
    assert not any(n.startswith('pts_') for n, _ in model.named_children())
    model.eval()
    inputs, samples = batch(1, with_points=False)
    assert len(model(inputs, samples, mode='predict')[0].pred_instances_3d) > 0
    with_depth = build('camera', geometric_transfer=config('fusion').model.geometric_transfer)
    assert with_depth.geometric_transfer is not None
    with pytest.raises(ValueError, match='needs points'):
        with_depth(inputs, samples, mode='predict')


def test_fused_model_names_the_missing_modality():
    model = build('fusion')
    model.eval()
    inputs, samples = batch(1, with_imgs=False)
    with pytest.raises(ValueError, match='needs images'):
        model(inputs, samples, mode='predict')
    inputs, samples = batch(1, with_points=False)
    with pytest.raises(ValueError, match='needs points'):
        model(inputs, samples, mode='loss')
    inputs, samples = batch(1)
    with pytest.raises(ValueError, match='data_samples'):
        model(inputs, None, mode='tensor')
    # views of different packed sizes carry no img_shape: the batch tensor's size is used
    ref = model(*batch(1), mode='tensor')['fusion'][-1]['center']
    no_shape = model(*batch(1, with_img_shape=False), mode='tensor')['fusion'][-1]['center']
    assert torch.equal(ref, no_shape)
    # an empty cloud is a valid sample: the camera queries still detect
    inputs['points'] = [torch.zeros(0, 5)]
    out = model(inputs, samples, mode='predict')[0].pred_instances_3d
    assert out.bboxes_3d.shape[1] == 9


def test_bad_configs():
    cfg = config('fusion').model
    cfg.pop('data_preprocessor')
    init_default_scope('vision_sparse')
    with pytest.raises(ValueError, match='modality'):
        MODELS.build(dict(cfg, modality='radar'))
    with pytest.raises(ValueError, match='fusion_layer is required'):
        MODELS.build(dict(cfg, fusion_layer=None))
    with pytest.raises(ValueError, match='semantic_transfer is required'):
        MODELS.build(dict(cfg, semantic_transfer=None))
    with pytest.raises(ValueError, match='stage_loss_weights'):
        MODELS.build(dict(cfg, stage_loss_weights=dict(radar=1.0)))
    with pytest.raises(ValueError, match='box_head'):
        MODELS.build(dict(cfg, modality='camera', lidar_head=None))


def test_stage_loss_weights_scale_the_stages():
    inputs, samples = batch(1)
    ref = build('fusion')(inputs, samples, mode='loss')
    half = build('fusion', stage_loss_weights=dict(camera=0.5, fusion=0.0))(inputs, samples,
                                                                            mode='loss')
    assert torch.allclose(half['lidar_loss_heatmap'], ref['lidar_loss_heatmap'])
    assert torch.allclose(half['cam_loss_cls'], 0.5 * ref['cam_loss_cls'])
    assert torch.allclose(half['loss_heatmap_2d'], 0.5 * ref['loss_heatmap_2d'])
    assert half['fusion_-1_loss_bbox'] == 0
    assert torch.allclose(half['fusion_-1_matched_ious'], ref['fusion_-1_matched_ious'])


REAL_INFO = (Path(__file__).resolve().parents[3] / '..' / 'shared' / 'data' / 'lidar_camera'
             / 'nuscenes' / 'n015-2018-07-24-11-22-45+0800.pkl')


@pytest.mark.skipif(not REAL_INFO.is_file(), reason=f'{REAL_INFO} not present')
@pytest.mark.parametrize('modality', ['lidar', 'camera', 'fusion'])
def test_real_keyframe_through_the_inferencer(modality):
    """The real nuScenes keyframe (6 views, calibration) through FusionInferencer and
    each untrained tiny model: the packed inputs fit the detector."""
    from vision_sparse.apis import FusionInferencer
    from vision_sparse.datasets.formats.nuscenes_info import load_det3d_info
    torch.manual_seed(0)
    info = load_det3d_info(str(REAL_INFO))
    sample = info[0] if isinstance(info, list) else info
    inf = FusionInferencer(str(CONFIGS / f'sparsefusion_tiny-{modality}_600it_synthetic-fusion.py'),
                           device='cpu')
    res = inf(sample=sample)
    assert res['success'], res['reason']
    assert res['modality'] == modality and res['num_boxes'] > 0
