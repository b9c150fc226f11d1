import numpy as np
import pytest
import torch

from vision_sparse.apis import BaseInferencer, load_config, load_image

from .conftest import SIFT_CONFIG, TOY_CONFIG


class ToyInferencer(BaseInferencer):
    """The toy regressor's prediction, as a minimal inferencer."""

    def __call__(self, x):
        with torch.no_grad():
            y = self.model.linear(torch.as_tensor(x, dtype=torch.float32))
        return self.finish(dict(y=y.numpy()), dict(forward=0.0))


def test_checkpoint_is_loaded_with_the_safe_loader(tmp_path):
    fresh = ToyInferencer(TOY_CONFIG)
    trained = ToyInferencer(TOY_CONFIG)
    with torch.no_grad():
        for p in trained.model.parameters():
            p.add_(1.5)
    # what mmengine's CheckpointHook writes: state_dict + meta (numpy inside)
    ckpt = tmp_path / 'iter_1.pth'
    torch.save(dict(state_dict=trained.model.state_dict(),
                    meta=dict(iter=1, seed=np.int64(0))), ckpt)
    loaded = ToyInferencer(TOY_CONFIG, checkpoint=str(ckpt))
    assert loaded.checkpoint_meta['iter'] == 1
    for a, b in zip(loaded.model.state_dict().values(), trained.model.state_dict().values()):
        torch.testing.assert_close(a, b)
    x = np.ones((2, 4), np.float32)
    res = loaded(x)
    assert res['success'] and res['reason'] == '' and res['timings'] == dict(forward=0.0)
    np.testing.assert_allclose(res['y'], trained(x)['y'])
    assert not np.allclose(res['y'], fresh(x)['y'])
    # a DDP-wrapped state dict ('module.' prefixes) loads too
    torch.save({'state_dict': {'module.' + k: v for k, v in trained.model.state_dict().items()}},
               tmp_path / 'ddp.pth')
    np.testing.assert_allclose(ToyInferencer(TOY_CONFIG, str(tmp_path / 'ddp.pth'))(x)['y'],
                               res['y'])


def test_a_checkpoint_with_other_keys_is_refused_when_strict(tmp_path):
    torch.save({'state_dict': {'other.weight': torch.zeros(2)}}, tmp_path / 'bad.pth')
    with pytest.raises(RuntimeError):
        ToyInferencer(TOY_CONFIG, str(tmp_path / 'bad.pth'))
    with pytest.raises(FileNotFoundError):
        ToyInferencer(TOY_CONFIG, str(tmp_path / 'missing.pth'))


def test_load_config_copies_and_overrides():
    cfg = load_config(SIFT_CONFIG, {'model.matcher.ratio': 0.7})
    assert cfg.model.matcher.ratio == 0.7
    as_dict = cfg.to_dict()
    again = load_config(as_dict)
    again.model.matcher.ratio = 0.5
    assert as_dict['model']['matcher']['ratio'] == 0.7
    with pytest.raises(ValueError, match='config file path, a dict'):
        load_config(3)
    with pytest.raises(ValueError, match='no `model`'):
        load_config(dict(default_scope='vision_sparse'))


def test_load_image(tmp_path):
    import cv2
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[..., 0] = 200  # red
    cv2.imwrite(str(tmp_path / 'a.png'), rgb[..., ::-1])
    np.testing.assert_array_equal(load_image(tmp_path / 'a.png'), rgb)
    np.testing.assert_array_equal(load_image(rgb[..., :1]), rgb[..., 0])
    with pytest.raises(ValueError, match='image is None'):
        load_image(None)
