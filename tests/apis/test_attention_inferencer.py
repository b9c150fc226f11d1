"""AttentionInferencer: the framepainter config trained briefly (tiny size) with mmengine's
Runner, then run on plain images; and ``python -m vision_sparse.apis attention``."""
import json

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from vision_sparse.apis import AttentionInferencer
from vision_sparse.apis.__main__ import main
from vision_sparse.datasets import SyntheticWarpPairsDataset
from vision_sparse.models.correspondence import tokens_to_pixels
from vision_sparse.models.losses import matches_from_grid
from vision_sparse.structures.results import check_result

from ..conftest import run_py
from .conftest import CONFIGS, SIFT_CONFIG

CONFIG = str(CONFIGS / 'framepainter' / 'framepainter_matching-attention_300it_synthetic-warp.py')
SIZE = (96, 128)  # 12 x 16 tokens of 8 px
ITERS = 60
KEYS = ('kpts0', 'kpts1', 'scores', 'flow', 'token_hw', 'image_size', 'image_size0',
        'image_size1', 'num_matches', 'mean_score')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """The config trained for 60 iterations at 96 x 128 on procedural textures, and its
    test metrics (held-out pairs)."""
    from mmengine.runner import Runner

    from vision_sparse.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    work_dir = tmp_path_factory.mktemp('framepainter')
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(work_dir)
    for key, num_pairs in (('train_dataloader', 1000), ('val_dataloader', 8),
                           ('test_dataloader', 8)):
        cfg[key].dataset.update(image_size=SIZE, image_dir=None, num_pairs=num_pairs)
    cfg.train_cfg.update(max_iters=ITERS, val_interval=ITERS)
    cfg.param_scheduler = [dict(type='CosineAnnealingLR', T_max=ITERS, eta_min=0.0,
                                by_epoch=False, begin=0, end=ITERS)]
    cfg.default_hooks.checkpoint.interval = ITERS
    cfg.default_hooks.logger.interval = 20
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    return dict(checkpoint=str(work_dir / f'iter_{ITERS}.pth'), metrics=metrics)


@pytest.fixture(scope='module')
def attention(trained):
    return AttentionInferencer(CONFIG, trained['checkpoint'], image_size=SIZE)


def _pair(index=0, seed=123):
    """A held-out synthetic pair as uint8 RGB images and its true source pixel per token."""
    item = SyntheticWarpPairsDataset(num_pairs=index + 1, image_size=SIZE, seed=seed)[index]
    src, tgt = ((item['inputs'][i].permute(1, 2, 0) * 255).round().byte().numpy()
                for i in (0, 1))
    _, valid, coords = matches_from_grid(item['data_samples']['grid'][None], (12, 16))
    return src, tgt, tokens_to_pixels(coords[0], 8).numpy(), valid[0].numpy()


def _accuracy(res, gt_xy, valid, patch=8):
    """Fraction of valid target tokens whose match is within 1 token of the truth."""
    gt_token = np.round((gt_xy - (patch - 1) / 2) / patch)
    pred_token = (res['kpts0'] - (patch - 1) / 2) / patch
    return float((np.abs(pred_token - gt_token).max(-1) <= 1)[valid].mean())


def _check(res, h=12, w=16):
    check_result(res)
    for key in KEYS:
        assert key in res, key
    n = h * w
    assert res['success'] and res['reason'] == ''
    assert res['kpts0'].shape == (n, 2) and res['kpts1'].shape == (n, 2)
    assert res['kpts0'].dtype == np.float32 and res['scores'].shape == (n, )
    assert res['flow'].shape == (h, w, 2) and res['token_hw'].tolist() == [h, w]
    assert ((res['scores'] > 0) & (res['scores'] <= 1)).all() and res['num_matches'] == n
    np.testing.assert_allclose(res['flow'].reshape(-1, 2), res['kpts0'] - res['kpts1'])
    assert {'load', 'match', 'total'} <= set(res['timings'])


def test_runner_trains_the_config_and_tests_it(trained):
    m = trained['metrics']
    assert m['corr/num_pairs'] == 8
    chance = 100 * 9 / (12 * 16)  # 3 x 3 tokens of 192
    assert m['corr/accuracy'] > 60 > 4 * chance, m
    assert m['corr/epe_px'] < 12, m  # 1.5 tokens: argmax quantisation plus the misses


def test_trained_attention_beats_chance_and_the_untrained_one(attention):
    with pytest.warns(UserWarning, match='untrained'):
        untrained = AttentionInferencer(CONFIG, image_size=SIZE)
    accs, untrained_accs = [], []
    for index in range(3):
        src, tgt, gt_xy, valid = _pair(index)
        res = attention(src, tgt)
        _check(res)
        accs.append(_accuracy(res, gt_xy, valid))
        untrained_accs.append(_accuracy(untrained(src, tgt), gt_xy, valid))
        # target token centres in target pixels, row-major
        np.testing.assert_allclose(res['kpts1'][:2], [[3.5, 3.5], [11.5, 3.5]])
    assert np.mean(accs) > 0.6 and np.mean(accs) > np.mean(untrained_accs) + 0.3, \
        (accs, untrained_accs)


def test_inputs_of_another_size_and_kinds(attention, tmp_path):
    src, tgt, _, _ = _pair(1)
    ref = attention(src, tgt)
    # twice the size: the same working images (area down-sampling), points scaled to the input
    big = [cv2.resize(im, (256, 192), interpolation=cv2.INTER_NEAREST) for im in (src, tgt)]
    res = attention(*big)
    _check(res)
    np.testing.assert_allclose(res['kpts1'], (ref['kpts1'] + 0.5) * 2 - 0.5)
    np.testing.assert_allclose(res['kpts0'], (ref['kpts0'] + 0.5) * 2 - 0.5)
    assert res['image_size0'].tolist() == [256, 192] and res['image_size'].tolist() == [96, 128]
    # files (lossless) and gray images
    for i, im in enumerate((src, tgt)):
        cv2.imwrite(str(tmp_path / f'{i}.png'), im[..., ::-1])
    from_files = attention(tmp_path / '0.png', str(tmp_path / '1.png'))
    np.testing.assert_array_equal(from_files['kpts0'], ref['kpts0'])
    gray = attention(cv2.cvtColor(src, cv2.COLOR_RGB2GRAY), cv2.cvtColor(tgt, cv2.COLOR_RGB2GRAY))
    _check(gray)


def test_config_dict_equals_config_file(attention, trained):
    from_dict = AttentionInferencer(Config.fromfile(CONFIG).to_dict(), trained['checkpoint'],
                                    image_size=SIZE)
    src, tgt, _, _ = _pair(2)
    a, b = attention(src, tgt), from_dict(src, tgt)
    np.testing.assert_array_equal(a['kpts0'], b['kpts0'])
    np.testing.assert_array_equal(a['scores'], b['scores'])


def test_default_working_size_is_the_configs_test_size(trained):
    inf = AttentionInferencer(CONFIG, trained['checkpoint'])
    assert inf.image_size == (192, 256)
    rng = np.random.default_rng(0)
    res = inf(rng.integers(0, 256, (50, 70, 3), np.uint8),
              rng.integers(0, 256, (50, 70, 3), np.uint8))
    _check(res, 24, 32)
    assert res['image_size1'].tolist() == [70, 50]


def test_bad_inputs_raise_clear_errors(attention, trained, tmp_path):
    src, tgt, _, _ = _pair(0)
    with pytest.raises(ValueError, match='src_img must have dtype uint8'):
        attention(src.astype(np.float32), tgt)
    with pytest.raises(ValueError, match='tgt_img must have shape'):
        attention(src, tgt[..., :2])
    with pytest.raises(ValueError, match="tgt_img: image file .* does not exist"):
        attention(src, tmp_path / 'missing.png')
    with pytest.raises(ValueError, match='image_size must be'):
        AttentionInferencer(CONFIG, trained['checkpoint'], image_size=(90, 128))
    with pytest.raises(ValueError, match='needs a framepainter config'):
        AttentionInferencer(SIFT_CONFIG)


def test_cli_prints_a_summary_and_draws(trained, tmp_path, capsys):
    src, tgt, _, _ = _pair(0)
    for name, im in (('src.png', src), ('tgt.png', tgt)):
        cv2.imwrite(str(tmp_path / name), im[..., ::-1])
    picture = tmp_path / 'matches.png'
    rc = main(['attention', CONFIG, str(tmp_path / 'src.png'), str(tmp_path / 'tgt.png'),
               '--checkpoint', trained['checkpoint'], '--image-size', '96', '128',
               '--out', str(picture)])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0 and summary['success'] is True and summary['token_hw'] == [12, 16]
    assert summary['num_matches'] == 192 and 0 < summary['mean_score'] <= 1
    assert 'kpts0' not in summary and picture.is_file()
    assert main(['attention', CONFIG, str(tmp_path / 'src.png'), 'missing.png',
                 '--checkpoint', trained['checkpoint']]) == 2


def test_cli_help():
    out = run_py(['-m', 'vision_sparse.apis', 'attention', '--help'], timeout=300).stdout
    assert '--checkpoint' in out and '--image-size' in out and 'src' in out


def test_torch_state_is_left_alone(attention):
    """Calling the inferencer neither changes the model nor needs gradients."""
    before = {k: v.clone() for k, v in attention.model.state_dict().items()}
    src, tgt, _, _ = _pair(0)
    with torch.enable_grad():
        attention(src, tgt)
    for k, v in attention.model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_fit_trains_in_place_and_save_checkpoint_round_trips(tmp_path):
    with pytest.warns(UserWarning, match='untrained'), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the same initial projections every run
        inf = AttentionInferencer(CONFIG, image_size=SIZE)
    src, tgt, gt_xy, valid = _pair(2)
    before = _accuracy(inf(src, tgt), gt_xy, valid)
    steps = []
    history = inf.fit(steps=40, batch_size=2, dataset=dict(image_dir=None, num_pairs=200),
                      progress=lambda step, total, loss: steps.append((step, total, loss)))
    assert [s[:2] for s in steps] == [(i, 40) for i in range(1, 41)]
    assert len(history['loss']) == len(history['accuracy']) == 40
    assert np.mean(history['loss'][-5:]) < np.mean(history['loss'][:5])
    assert not inf.model.training
    after = _accuracy(inf(src, tgt), gt_xy, valid)
    assert after > max(0.3, before + 0.2), (before, after)
    path = inf.save_checkpoint(tmp_path / 'sub' / 'fit.pth')
    again = AttentionInferencer(CONFIG, path, image_size=SIZE)
    np.testing.assert_array_equal(again(src, tgt)['kpts0'], inf(src, tgt)['kpts0'])

    class Stop(Exception):
        pass

    def stop_at_3(step, total, loss):
        if step == 3:
            raise Stop()

    with pytest.raises(Stop):
        inf.fit(steps=10, batch_size=1, dataset=dict(image_dir=None, num_pairs=20),
                progress=stop_at_3)
    assert not inf.model.training
    for kwargs, match in ((dict(steps=0), 'steps must be a positive int'),
                          (dict(batch_size=1.5), 'batch_size must be a positive int'),
                          (dict(lr=-1.0), 'lr must be a positive number')):
        with pytest.raises(ValueError, match=match):
            inf.fit(**kwargs)


def test_attention_maps_of_one_target_pixel(attention):
    src, tgt, gt_xy, valid = _pair(0)
    res = attention(src, tgt, return_attention=True)
    _check(res)
    n = 12 * 16
    assert res['attention'].shape == (n, n) and res['attention'].dtype == np.float32
    np.testing.assert_allclose(res['attention'].sum(1), 1.0, atol=1e-4)
    # the argmax of every row is the match; its weight is the score
    np.testing.assert_allclose(res['attention'].max(1), res['scores'], atol=1e-6)
    # a target pixel of token (c=5, r=7): the row 7 * 16 + 5
    at = attention.attention_at(res, (5 * 8 + 2, 7 * 8 + 6))
    assert at['index'] == 7 * 16 + 5 and at['token'].tolist() == [5, 7]
    assert at['map'].shape == (12, 16)
    np.testing.assert_allclose(at['map'].reshape(-1), res['attention'][at['index']])
    np.testing.assert_allclose(at['kpt1'], res['kpts1'][at['index']])
    np.testing.assert_allclose(at['kpt0'], res['kpts0'][at['index']])
    peak = np.unravel_index(at['map'].argmax(), at['map'].shape)
    np.testing.assert_allclose(at['kpt0'], np.array([peak[1], peak[0]]) * 8 + 3.5)
    # without return_attention: no map, and a readable error
    plain = attention(src, tgt)
    assert 'attention' not in plain
    with pytest.raises(ValueError, match='return_attention=True'):
        attention.attention_at(plain, (10, 10))
    with pytest.raises(ValueError, match='outside the target image'):
        attention.attention_at(res, (128, 5))
