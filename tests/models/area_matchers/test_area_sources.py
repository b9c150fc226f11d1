"""Area sources: SAM-free segmentation recovers known regions, mask files in
both layouts, SAM wiring with a tiny random SAM, and bad inputs."""
from functools import partial

import cv2
import numpy as np
import pytest
import torch

from vision_sparse.models.area_matchers import (MaskFileAreaSource, SAMAreaSource,
                                                SegmentationAreaSource)
from vision_sparse.registry import MODELS
from vision_sparse.structures.areas import box_iou

RECTS = np.array([[40, 40, 300, 250], [360, 60, 600, 220], [120, 300, 520, 450]])
COLORS = [(220, 40, 40), (40, 200, 60), (50, 60, 230)]


def _rect_image(size=(480, 640), scale=1.0, seed=0):
    h, w = int(size[0] * scale), int(size[1] * scale)
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 128, np.float32)
    for (x1, y1, x2, y2), c in zip((RECTS * scale).astype(int), COLORS):
        img[y1:y2, x1:x2] = c
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize('method', ['felzenszwalb', 'slic_hierarchy'])
@pytest.mark.parametrize('scale', [1.0, 0.55])
def test_segmentation_source_recovers_regions(method, scale):
    img = _rect_image(scale=scale)
    src = MODELS.build(dict(type='SegmentationAreaSource', method=method))
    areas = src(img)
    assert areas.image_size == img.shape[:2]
    assert areas.masks.shape == (len(areas), *img.shape[:2])
    iou = box_iou(RECTS * scale, areas.boxes)
    assert (iou.max(1) > 0.85).all(), iou.max(1)


def test_segmentation_source_uniform_image_and_bad_input():
    src = SegmentationAreaSource(keep_masks=False)
    out = src(np.full((120, 160, 3), 77, np.uint8))
    assert len(out) <= 1 and out.masks is None
    with pytest.raises(ValueError, match='uint8'):
        src(np.zeros((50, 50, 3), np.float32))
    with pytest.raises(ValueError, match='None'):
        src(None)
    with pytest.raises(ValueError, match='shape'):
        src(np.zeros((50, 50, 4), np.uint8))
    with pytest.raises(ValueError, match='method'):
        SegmentationAreaSource(method='watershed')
    with pytest.raises(ValueError, match='unknown'):
        SegmentationAreaSource(n_clusters=3)


# ---------------------------------------------------------------- mask files
def _sam_records(size):
    h, w = size
    recs = []
    for x1, y1, x2, y2 in RECTS:
        seg = np.zeros((h, w), bool)
        seg[y1:y2, x1:x2] = True
        recs.append(dict(segmentation=seg, bbox=[x1, y1, x2 - x1, y2 - y1],
                         area=int(seg.sum()), predicted_iou=0.95, stability_score=0.97))
    return recs


def test_mask_files_sam_npy_and_label_images(tmp_path):
    img = _rect_image()
    recs = _sam_records((480, 640))
    np.save(tmp_path / 'a.npy', np.array(recs, dtype=object), allow_pickle=True)
    lab = np.zeros((480, 640), np.uint16)
    for k, (x1, y1, x2, y2) in enumerate(RECTS):
        lab[y1:y2, x1:x2] = k + 5
    cv2.imwrite(str(tmp_path / 'b.png'), lab)
    np.save(tmp_path / 'c.npy', lab.astype(np.int32))
    # a half-size colour label PNG (black = no area): resized to the image
    col = np.zeros((240, 320, 3), np.uint8)
    for (x1, y1, x2, y2), c in zip(RECTS // 2, COLORS):
        col[y1:y2, x1:x2] = c
    cv2.imwrite(str(tmp_path / 'd_mask.png'), col[..., ::-1])
    for name, pattern in (('a.jpg', '{stem}.npy'), ('b.jpg', '{stem}.png'),
                          ('c.jpg', '{stem}.npy'), ('d.jpg', '{stem}_mask.png')):
        src = MaskFileAreaSource(root=str(tmp_path), pattern=pattern)
        areas = src(img, name=name)
        iou = box_iou(RECTS, areas.boxes)
        assert len(areas) == 3 and (iou.max(1) > 0.97).all(), (name, iou)
        assert areas.masks.shape == (3, 480, 640)


def test_mask_file_errors(tmp_path):
    img = _rect_image()
    src = MaskFileAreaSource(root=str(tmp_path))
    with pytest.raises(ValueError, match='name'):
        src(img)
    with pytest.raises(FileNotFoundError, match='missing.npy'):
        src(img, name='missing.jpg')
    np.save(tmp_path / 'bad.npy', np.zeros((3, 3, 3), np.float32))
    with pytest.raises(ValueError, match='bad.npy'):
        src(img, name='bad.jpg')
    np.save(tmp_path / 'bad2.npy', np.array([dict(bbox=[0, 0, 1, 1])], dtype=object),
            allow_pickle=True)
    with pytest.raises(ValueError, match='segmentation'):
        src(img, name='bad2.jpg')
    (tmp_path / 'bad3.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='bad3.png'):
        MaskFileAreaSource(root=str(tmp_path), pattern='{stem}.png')(img, name='bad3.jpg')
    with pytest.raises(FileNotFoundError):
        MaskFileAreaSource(root=str(tmp_path / 'nope'))
    with pytest.raises(ValueError, match='pattern'):
        MaskFileAreaSource(root=str(tmp_path), pattern='masks.npy')


# ----------------------------------------------------------------------- SAM
def _tiny_sam():
    from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder,
                                           Sam, TwoWayTransformer)
    torch.manual_seed(0)
    emb, size, patch = 32, 64, 16
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=size, patch_size=patch, embed_dim=emb, depth=1, num_heads=2,
            mlp_ratio=2.0, out_chans=emb, qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=False,
            global_attn_indexes=(), window_size=0),
        prompt_encoder=PromptEncoder(embed_dim=emb, image_embedding_size=(size // patch,) * 2,
                                     input_image_size=(size, size), mask_in_chans=4),
        mask_decoder=MaskDecoder(num_multimask_outputs=3,
                                 transformer=TwoWayTransformer(depth=1, embedding_dim=emb,
                                                               mlp_dim=64, num_heads=2),
                                 transformer_dim=emb, iou_head_depth=1,
                                 iou_head_hidden_dim=16),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375]).eval()


def test_sam_source_wiring_with_tiny_random_sam(monkeypatch):
    sam = _tiny_sam()
    calls = []
    orig = sam.image_encoder.forward
    monkeypatch.setattr(sam.image_encoder, 'forward',
                        lambda x: calls.append(tuple(x.shape)) or orig(x))
    src = SAMAreaSource(sam_model=sam, points_per_side=3, pred_iou_thresh=0.0,
                        stability_score_thresh=0.0, box_nms_thresh=1.0, clean=None)
    img = _rect_image((90, 120))
    areas = src(img)
    assert calls == [(1, 3, 64, 64)]              # one encoder pass at SAM's input size
    assert src._generator.point_grids[0].shape == (9, 2)
    assert areas.image_size == (90, 120) and areas.masks.shape[1:] == (90, 120)
    assert len(areas) <= 9 * 3
    for box, m in zip(areas.boxes, areas.masks):  # boxes are the tight mask boxes
        ys, xs = np.nonzero(m)
        np.testing.assert_allclose(box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])


def test_sam_source_errors(tmp_path):
    with pytest.raises(ValueError, match='checkpoint'):
        SAMAreaSource()
    with pytest.raises(FileNotFoundError, match='sam_missing.pth'):
        SAMAreaSource(checkpoint=str(tmp_path / 'sam_missing.pth'))
    with pytest.raises(ValueError, match='model_type'):
        SAMAreaSource(checkpoint='x.pth', model_type='vit_x')


# ---------------------------------------------------------------- superpixels
def test_superpixels_and_merge_hierarchy_on_known_regions():
    """Both superpixel methods split the three rectangles from the background,
    and every snapshot of the merge hierarchy is a partition of the image."""
    from vision_sparse.models.area_matchers.area_sources.superpixels import (felzenszwalb,
                                                                            merge_hierarchy,
                                                                            slic)
    img = _rect_image(scale=0.5)
    rects = (RECTS * 0.5).astype(int)
    for labels in (felzenszwalb(img, 100.0, 0.8, 20), slic(img, 150, 10.0)):
        assert labels.dtype == np.int32 and labels.shape == img.shape[:2]
        assert labels.min() == 0 and np.unique(labels).size == labels.max() + 1
        for x1, y1, x2, y2 in rects:  # no superpixel straddles a rectangle's border
            inner = np.unique(labels[y1 + 2:y2 - 2, x1 + 2:x2 - 2])
            outside = np.ones(labels.shape, bool)
            outside[y1 - 2:y2 + 2, x1 - 2:x2 + 2] = False  # 2 px of blurred border
            assert not np.isin(inner, labels[outside]).any()
        regions = merge_hierarchy(img, labels, (8, 4))
        n = labels.max() + 1
        cover = np.zeros(n, int)
        for r in regions:
            cover[r] += 1
        # every initial label lies in exactly one region of each recorded snapshot
        assert (cover >= 1).all() and len(regions) >= 4
