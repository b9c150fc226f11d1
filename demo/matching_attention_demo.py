"""Matching attention learns dense correspondences from a correspondence loss.

A real image (or a synthetic texture) is warped with a known smooth flow
(random affine + sinusoidal wobble, via ``grid_sample``). Both frames are cut
into 8 x 8 patches and embedded with a fixed random conv + GELU, plus the
same features averaged over 3 x 3 and 7 x 7 token neighbourhoods (24 x 32
tokens of 192 channels for the default 192 x 256 size). A
:class:`MatchingAttention` is trained on CPU with :class:`CorrespondenceLoss`
(``-log A[i, m(i)]``, ground-truth ``m`` from the flow) for a few hundred
steps; only its q/k projections matter for the map. (The same model trained
on many warped pairs from a config, and run on any two images:
``configs/framepainter``, ``tools/train.py``, ``vision_sparse.apis.AttentionInferencer``.)

Writes to ``--out``:

* ``correspondences.png``  source | edited frame with the argmax matches
  (green: within 1 token of the truth, red: wrong);
* ``flow.png``             ground-truth flow | recovered flow, argmax and
  soft-argmax (colour wheel: hue = direction, saturation = magnitude; black =
  no match) | argmax error;
* ``reconstruction.png``   source | edited frame | edited frame rebuilt by
  pulling source patches through the attention (soft: ``A @ patches``;
  argmax: copy of the best patch) | attention of three query tokens | error;

and prints the accuracy (% of edited-frame tokens whose argmax match is within
1 token of the truth).

Usage::

    python demo/matching_attention_demo.py [IMG] [--out DIR] [--steps N]
"""
import argparse
import math
import time
from pathlib import Path
from typing import Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vision_sparse.datasets import procedural_texture, random_warp_grid
from vision_sparse.models.correspondence import RandomPatchEmbedding
from vision_sparse.models.layers import MatchingAttention, attention_to_matches
from vision_sparse.models.losses import (CorrespondenceLoss, match_accuracy,
                                         matches_from_grid)
from vision_sparse.testing.data import shared_data_path

#: a ScanNet sample of the shared data (../shared/data next to the repository or
#: $VISION_SPARSE_DATA); None (a synthetic texture) when the data is not there
DEFAULT_IMG = shared_data_path('matching', 'scannet_pairs', 'scannet_sample_images',
                               'scene0711_00_frame-001680.jpg')

try:  # shared helpers; plain OpenCV when they are not available
    from vision_sparse.visualization import (draw_matches, make_grid,
                                             put_text_block, save_image)
except Exception:  # noqa: BLE001
    draw_matches = make_grid = put_text_block = save_image = None


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def load_image(path: str, size: Tuple[int, int], seed: int,
               zoom: int = 2) -> Tuple[Tensor, Tensor, str]:
    """The image at ``size`` and at ``zoom`` times ``size`` (for pictures).

    Returns:
        tuple: ``(1, 3, H, W)`` and ``(1, 3, zoom * H, zoom * W)`` float RGB in
        [0, 1], and a description of where the image came from.
    """
    img = cv2.imread(path, cv2.IMREAD_COLOR) if path else None
    if img is not None:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        out = []
        for z in (1, zoom):
            small = cv2.resize(img, (size[1] * z, size[0] * z),
                               interpolation=cv2.INTER_AREA)
            out.append(torch.from_numpy(small).permute(2, 0, 1)[None].float()
                       / 255)
        return out[0], out[1], path
    tex = procedural_texture(size, seed)
    big = F.interpolate(tex, scale_factor=zoom, mode='bicubic',
                        align_corners=False).clamp(0, 1)
    return tex, big, f'synthetic texture ({path!r} not readable)'


# --------------------------------------------------------------------------
# pictures
# --------------------------------------------------------------------------
def to_uint8(img: Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` or ``(3, H, W)`` in [0, 1] -> ``(H, W, 3)`` uint8."""
    arr = img.reshape(-1, *img.shape[-2:]).permute(1, 2, 0).clamp(0, 1)
    return np.ascontiguousarray((arr.numpy() * 255).round().astype(np.uint8))


def flow_to_color(flow: np.ndarray, valid: np.ndarray,
                  max_mag: float) -> np.ndarray:
    """``(h, w, 2)`` flow -> RGB (hue = direction, saturation = magnitude)."""
    mag = np.linalg.norm(flow, axis=-1)
    ang = np.arctan2(flow[..., 1], flow[..., 0])
    hsv = np.zeros(flow.shape[:2] + (3, ), np.uint8)
    hsv[..., 0] = ((ang + np.pi) / (2 * np.pi) * 179).astype(np.uint8)
    hsv[..., 1] = np.clip(mag / max(max_mag, 1e-6) * 255, 0, 255).astype(
        np.uint8)
    hsv[..., 2] = 255
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    rgb[~valid] = 0
    return rgb


def upscale(img: np.ndarray, factor: int, linear: bool = False) -> np.ndarray:
    return cv2.resize(img, (img.shape[1] * factor, img.shape[0] * factor),
                      interpolation=cv2.INTER_LINEAR
                      if linear else cv2.INTER_NEAREST)


def label(img: np.ndarray, text: str) -> np.ndarray:
    if put_text_block is not None:
        return put_text_block(img, text, font_scale=0.45)
    out = img.copy()
    cv2.putText(out, text, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (255, 255, 255), 1, cv2.LINE_AA)
    return out


def grid_images(images, ncols: int) -> np.ndarray:
    if make_grid is not None:
        return make_grid(images, ncols=ncols)
    h = max(i.shape[0] for i in images)
    w = max(i.shape[1] for i in images)
    cells = [cv2.copyMakeBorder(i, 4, 4 + h - i.shape[0], 4,
                                4 + w - i.shape[1], cv2.BORDER_CONSTANT,
                                value=(255, 255, 255)) for i in images]
    cells += [np.full_like(cells[0], 255)] * (-len(cells) % ncols)
    rows = [np.concatenate(cells[r:r + ncols], 1)
            for r in range(0, len(cells), ncols)]
    return np.concatenate(rows, 0)


def write_png(path: Path, img: np.ndarray) -> None:
    if save_image is not None:
        save_image(path, img)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def matches_picture(src: np.ndarray, dst: np.ndarray, src_xy: np.ndarray,
                    dst_xy: np.ndarray, ok: np.ndarray, text: str) -> np.ndarray:
    if draw_matches is not None:
        return draw_matches(src, dst, src_xy, dst_xy, inlier_mask=ok,
                            text=text)
    canvas = np.concatenate([src, np.full((src.shape[0], 10, 3), 255,
                                          np.uint8), dst], 1)
    off = src.shape[1] + 10
    for p, q, good in zip(src_xy, dst_xy, ok):
        color = (0, 255, 0) if good else (255, 0, 0)
        p = (int(round(p[0])), int(round(p[1])))
        q = (int(round(q[0])) + off, int(round(q[1])))
        cv2.line(canvas, p, q, color, 1, cv2.LINE_AA)
        cv2.circle(canvas, p, 2, color, -1)
        cv2.circle(canvas, q, 2, color, -1)
    return label(canvas, text)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img', nargs='?', default=DEFAULT_IMG and str(DEFAULT_IMG),
                        help='image path (default: a ScanNet sample; a '
                        'synthetic texture if missing)')
    parser.add_argument('--out', default='work_dirs/demo/matching_attention')
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--size', type=int, nargs=2, default=(192, 256),
                        metavar=('H', 'W'), help='multiples of --patch')
    parser.add_argument('--patch', type=int, default=8)
    parser.add_argument('--dim', type=int, default=64,
                        help='random features per token (x3 with context)')
    parser.add_argument('--heads', type=int, default=2)
    parser.add_argument('--lr', type=float, default=1e-2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (1 is fastest for these small '
                        'matrices, and robust on a busy machine)')
    args = parser.parse_args()
    torch.set_num_threads(max(args.threads, 1))
    t_start = time.perf_counter()
    torch.manual_seed(args.seed)
    size = tuple(args.size)
    if size[0] % args.patch or size[1] % args.patch:
        parser.error(f'--size {size} must be multiples of --patch '
                     f'{args.patch}')
    hw = (size[0] // args.patch, size[1] // args.patch)
    out_dir = Path(args.out)

    # 1. a pair with a known flow
    zoom = 2  # pictures of matches at twice the working size
    src, src_big, origin = load_image(args.img, size, args.seed, zoom)
    grid = random_warp_grid(size, args.seed + 1)
    edited = F.grid_sample(src, grid, mode='bilinear', padding_mode='zeros',
                           align_corners=False)
    # the same warp evaluated at the picture size (it is analytic)
    big_size = (size[0] * zoom, size[1] * zoom)
    edited_big = F.grid_sample(src_big, random_warp_grid(big_size, args.seed + 1),
                               align_corners=False)
    target, valid, gt_xy = matches_from_grid(grid, hw)  # (1, N), (1, N, 2)

    # 2. tokens (B*F = 2, N, C): frame 0 = source, frame 1 = edited
    # (the random conv drawn from torch's generator after seeding it, as before)
    torch.manual_seed(args.seed + 2)
    embedding = RandomPatchEmbedding(args.patch, args.dim, context=(3, 7),
                                     seed=None)
    tokens, _ = embedding(torch.cat([src, edited])[None])
    channels = tokens.shape[-1]

    # 3. train the matching attention with the correspondence loss
    attn = MatchingAttention(channels, args.heads, num_frames=2)
    loss_fn = CorrespondenceLoss()
    params = list(attn.to_q.parameters()) + list(attn.to_k.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(args.steps, 1))
    print(f'image: {origin}; {size[0]}x{size[1]} px -> {hw[0]}x{hw[1]} '
          f'tokens, {int(valid.sum())}/{valid.numel()} with a match')
    for step in range(args.steps):
        _, logits = attn(tokens, hw=hw, return_attn=True, attn_type='logits',
                         attn_reduce='none')
        loss = loss_fn(logits[:, 1], target, valid)  # edited -> source
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f'  step {step:4d}  loss {loss.item():.3f}')

    # 4. read out
    with torch.no_grad():
        _, maps = attn(tokens, hw=hw, return_attn=True)  # (1, 2, N, N)
    amap = maps[0, 1]  # edited frame -> source, head-averaged
    pred_xy = attention_to_matches(amap, hw)  # (N, 2) tokens
    acc = match_accuracy(pred_xy, target[0], valid[0], hw).item()
    soft_xy = attention_to_matches(amap, hw, mode='soft')
    soft_err = (soft_xy - gt_xy[0]).norm(dim=-1)[valid[0]].mean().item()

    # 5. reconstruction of the edited frame from source patches
    p = args.patch
    patches = F.unfold(src, p, stride=p)[0].T  # (N, 3*p*p)
    soft = F.fold((amap @ patches).T[None], size, p, stride=p)
    hard = F.fold(patches[amap.argmax(-1)].T[None], size, p, stride=p)
    mask = F.interpolate(valid.reshape(1, 1, *hw).float(), size=size)
    psnr = {}
    for name, rec in (('soft', soft), ('argmax', hard)):
        mse = (((rec - edited)**2) * mask).sum() / (3 * mask.sum())
        psnr[name] = 10 * math.log10(1.0 / max(mse.item(), 1e-12))

    # 6. pictures
    src_np, edit_np = to_uint8(src), to_uint8(edited)
    cols, rows = np.meshgrid(np.arange(hw[1]), np.arange(hw[0]))
    token_xy = np.stack([cols, rows], -1).reshape(-1, 2).astype(np.float64)
    val = valid[0].numpy()
    true_xy = gt_xy[0].numpy()
    pred = pred_xy.numpy()
    ok = np.abs(pred - np.round(true_xy)).max(-1) <= 1
    sel = np.flatnonzero(val & ((rows.reshape(-1) % 3 == 1)
                                & (cols.reshape(-1) % 3 == 1)))
    def to_px(xy: np.ndarray, scale: int = 1) -> np.ndarray:
        """Token coordinates -> pixel centres (times ``scale``)."""
        return (xy + 0.5) * p * scale

    corr = matches_picture(
        to_uint8(src_big), to_uint8(edited_big),
        to_px(pred[sel], zoom), to_px(token_xy[sel], zoom), ok[sel],
        f'argmax matches of every 3rd token: {acc * 100:.1f}% of all tokens '
        'within 1 token (green)')
    write_png(out_dir / 'correspondences.png', corr)

    gt_flow = (true_xy - token_xy).reshape(*hw, 2)
    pr_flow = (pred - token_xy).reshape(*hw, 2)
    soft_flow = (soft_xy.numpy() - token_xy).reshape(*hw, 2)
    max_mag = float(np.abs(gt_flow[val.reshape(hw)]).max()) + 1e-6
    v2 = val.reshape(hw)
    err = np.linalg.norm(pr_flow - gt_flow, axis=-1)
    err_img = cv2.applyColorMap(
        np.clip(err / 3.0 * 255, 0, 255).astype(np.uint8),
        cv2.COLORMAP_INFERNO)[..., ::-1].copy()
    err_img[~v2] = 0
    flow = grid_images([
        label(upscale(flow_to_color(gt_flow, v2, max_mag), 2 * p),
              'ground-truth flow'),
        label(upscale(flow_to_color(pr_flow, v2, max_mag), 2 * p),
              'recovered flow (argmax)'),
        label(upscale(flow_to_color(soft_flow, v2, max_mag), 2 * p),
              'recovered flow (soft-argmax)'),
        label(upscale(err_img, 2 * p), 'argmax end-point error, 0..3 tokens'),
    ], ncols=2)
    write_png(out_dir / 'flow.png', flow)

    # attention of three query tokens of the edited frame over the source
    queries = [i for i in (hw[1] * (hw[0] // 4) + hw[1] // 4,
                           hw[1] * (hw[0] // 2) + hw[1] // 2,
                           hw[1] * (3 * hw[0] // 4) + 3 * hw[1] // 4)
               if val[i]] or [int(np.flatnonzero(val)[0])]
    heat = np.zeros(hw)
    for i in queries:
        a = amap[i].reshape(hw).numpy()
        heat = np.maximum(heat, a / a.max())
    heat_img = cv2.applyColorMap(
        cv2.resize((heat * 255).astype(np.uint8), (size[1], size[0]),
                   interpolation=cv2.INTER_LINEAR),
        cv2.COLORMAP_JET)[..., ::-1]
    overlay = np.ascontiguousarray((0.5 * src_np + 0.5 * heat_img).astype(
        np.uint8))
    edit_marked = edit_np.copy()
    for i in queries:
        c = tuple(int(v) for v in to_px(token_xy[i]))
        cv2.circle(edit_marked, c, 5, (255, 255, 0), 2, cv2.LINE_AA)
        g = tuple(int(v) for v in to_px(true_xy[i]))
        cv2.drawMarker(overlay, g, (255, 255, 255), cv2.MARKER_CROSS, 12, 2)
    recon = grid_images([
        label(src_np, 'source (frame 0)'),
        label(edit_marked, 'edited (frame 1), 3 queries'),
        label(to_uint8(soft), f'rebuilt: A @ source patches, '
              f'{psnr["soft"]:.1f} dB'),
        label(to_uint8(hard), f'rebuilt: argmax patch, '
              f'{psnr["argmax"]:.1f} dB'),
        label(overlay, 'attention of the 3 queries (+ = truth)'),
        label(to_uint8((soft - edited).abs() * mask * 2),
              '2 x |soft rebuilt - edited|'),
    ], ncols=2)
    write_png(out_dir / 'reconstruction.png', recon)

    elapsed = time.perf_counter() - t_start
    print(f'accuracy: {acc * 100:.1f}% of {int(valid.sum())} edited-frame '
          f'tokens matched within 1 token (argmax); soft-argmax mean error '
          f'{soft_err:.2f} tokens')
    print(f'reconstruction PSNR (valid area): soft {psnr["soft"]:.1f} dB, '
          f'argmax {psnr["argmax"]:.1f} dB')
    print(f'pictures: {out_dir / "correspondences.png"}, '
          f'{out_dir / "flow.png"}, {out_dir / "reconstruction.png"}')
    print(f'done in {elapsed:.1f} s')


if __name__ == '__main__':
    main()
