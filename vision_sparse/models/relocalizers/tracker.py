"""Frame-to-frame feature tracking on a posed sequence (FaVoR step 1).

Every frame is described by :class:`DenseFeatureExtractor`; keypoints of
consecutive frames are matched by mutual nearest neighbour on cosine
similarity (>= ``match_threshold``), the matches are checked with an
essential-matrix RANSAC, and each surviving match extends the track of its
previous keypoint. Unmatched keypoints start new tracks. Every observation
keeps the frame's pose and a ``(2 h + 1)^2`` patch of the dense descriptor map
around the keypoint (the training targets of the landmark's voxel grid).

Poses are camera-to-world ``T_c2w`` (4, 4) (7-Scenes convention); see
:mod:`vision_sparse.structures.cameras`.
"""
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ...registry import TASK_UTILS
from ...structures.cameras import is_rigid_transform
from ...utils.config import merge_conf
from ..matchers.nn_matching import mutual_nn_match
from .feature_extractor import build_extractor, sample_patches

__all__ = ['TrackSet', 'FeatureTracker', 'mutual_nn_match', 'check_frame']


@dataclass
class TrackSet:
    """Observations of feature tracks over a posed sequence (flat tensors).

    Observations are sorted by ``(track_ids, frame_ids)``.

    Attributes:
        track_ids (Tensor): (M,) int64 track index in ``[0, num_tracks)``.
        frame_ids (Tensor): (M,) int64 frame index in ``[0, F)``.
        uv (Tensor): (M, 2) float32 keypoint pixels ``(u, v)``.
        patches (Tensor): (M, P, P, C) descriptor patches (float16 by default),
            ``patches[m, dy + h, dx + h]`` is the descriptor at ``uv[m] + (dx, dy)``.
        descriptors (Tensor): (M, C) float32 unit descriptor at the keypoint.
        depths (Tensor): (M,) float32 measured z-depth at the keypoint, metres;
            0 where unknown.
        poses (Tensor): (F, 4, 4) float64 camera-to-world poses.
        intrinsics (Tensor): (F, 3, 3) float64.
        image_sizes (Tensor): (F, 2) int64 ``(W, H)``.
        frame_names (list[str]): F names.
        retrieval_descriptors (list[Tensor]): F tensors (n_f, C) float16, the
            best-scoring keypoint descriptors of every frame (for retrieval).
        feature_type (str): extractor name (``'xfeat'``, ``'aliked-n16'`` ...).
        patch_half (int): ``h``.
    """
    track_ids: Tensor
    frame_ids: Tensor
    uv: Tensor
    patches: Tensor
    descriptors: Tensor
    depths: Tensor
    poses: Tensor
    intrinsics: Tensor
    image_sizes: Tensor
    frame_names: List[str] = field(default_factory=list)
    retrieval_descriptors: List[Tensor] = field(default_factory=list)
    feature_type: str = ''
    patch_half: int = 3

    @property
    def num_tracks(self) -> int:
        """Number of tracks (``track_ids.max() + 1``; 0 when empty)."""
        return int(self.track_ids.max()) + 1 if self.track_ids.numel() else 0

    @property
    def num_frames(self) -> int:
        return int(self.poses.shape[0])

    @property
    def descriptor_dim(self) -> int:
        return int(self.patches.shape[-1])

    def lengths(self) -> Tensor:
        """(num_tracks,) number of observations per track."""
        return torch.bincount(self.track_ids, minlength=self.num_tracks)

    def offsets(self) -> Tensor:
        """(num_tracks + 1,) start of each track's observations (they are contiguous)."""
        return F.pad(torch.cumsum(self.lengths(), 0), (1, 0))

    def select_observations(self, keep: Tensor, relabel: bool = True) -> 'TrackSet':
        """Subset of observations; with ``relabel`` tracks are renumbered 0..n-1 in order.

        Args:
            keep (Tensor): (M,) bool mask of observations to keep.
            relabel (bool): make track ids contiguous (empty tracks vanish).

        Returns:
            TrackSet: frames, poses and retrieval data are shared, not copied.
        """
        tid = self.track_ids[keep]
        if relabel and tid.numel():
            _, tid = torch.unique(tid, return_inverse=True)
        out = TrackSet(tid, self.frame_ids[keep], self.uv[keep], self.patches[keep],
                       self.descriptors[keep], self.depths[keep], self.poses, self.intrinsics,
                       self.image_sizes, self.frame_names, self.retrieval_descriptors,
                       self.feature_type, self.patch_half)
        return out.sorted()

    def sorted(self) -> 'TrackSet':
        """Observations sorted by ``(track, frame)``."""
        if self.track_ids.numel() == 0:
            return self
        key = self.track_ids * (self.num_frames + 1) + self.frame_ids
        order = torch.argsort(key, stable=True)
        return TrackSet(self.track_ids[order], self.frame_ids[order], self.uv[order],
                        self.patches[order], self.descriptors[order], self.depths[order],
                        self.poses, self.intrinsics, self.image_sizes, self.frame_names,
                        self.retrieval_descriptors, self.feature_type, self.patch_half)


def check_frame(frame: Dict, index: int, pose_atol: float = 1e-3) -> Dict:
    """Validate and normalise one posed frame.

    Args:
        frame (dict): ``image`` (H, W, 3) uint8, ``K`` (3, 3), ``T_c2w`` (4, 4)
            camera-to-world, optional ``depth`` (H, W) metres (0 = invalid),
            optional ``K_depth`` (3, 3) and ``name``.
        index (int): position in the sequence, for messages.
        pose_atol (float): tolerance of the rigidity check.

    Returns:
        dict: the frame with ``K``, ``T_c2w`` float64 (rotation re-orthonormalised).

    Raises:
        ValueError: missing pose, non-rigid pose, bad intrinsics, depth of the wrong size.
    """
    name = frame.get('name', f'#{index}')
    if frame.get('image') is None:
        raise ValueError(f'frame {index} ({name}) has no image')
    img = frame['image']
    h, w = (img.shape[:2] if isinstance(img, np.ndarray) else tuple(img.shape[-2:]))
    T = frame.get('T_c2w')
    if T is None:
        raise ValueError(f'frame {index} ({name}) has no pose (T_c2w); every mapping frame '
                         'must be posed')
    T = np.asarray(T, np.float64)
    if T.shape != (4, 4):
        raise ValueError(f'frame {index} ({name}): T_c2w must have shape (4, 4), got {T.shape}')
    if not np.isfinite(T).all() or not is_rigid_transform(T, atol=pose_atol):
        raise ValueError(f'frame {index} ({name}): T_c2w is not a rigid transform '
                         f'(R^T R = I, det R = 1, last row 0 0 0 1 within {pose_atol})')
    u, _, vt = np.linalg.svd(T[:3, :3])
    T = T.copy()
    T[:3, :3] = u @ vt
    K = np.asarray(frame.get('K'), np.float64) if frame.get('K') is not None else None
    if K is None or K.shape != (3, 3) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f'frame {index} ({name}): K must be a (3, 3) intrinsic matrix with '
                         f'positive focal lengths, got {None if K is None else K.tolist()}')
    out = dict(frame, K=K, T_c2w=T, name=name)
    depth = frame.get('depth')
    if depth is not None:
        depth = np.asarray(depth)
        if depth.shape != (h, w):
            raise ValueError(f'frame {index} ({name}): depth must have the image size '
                             f'(H, W) = ({h}, {w}), got {depth.shape}')
        out['depth'] = depth.astype(np.float32)
    return out


def _depth_at(frame: Dict, uv: np.ndarray) -> np.ndarray:
    """z-depth (metres) at colour pixels; 0 where unknown.

    A separate depth camera (``K_depth``) is assumed to share the colour
    camera's centre and axes (7-Scenes' usual approximation: its depth is not
    registered to colour).
    """
    depth = frame.get('depth')
    if depth is None or uv.shape[0] == 0:
        return np.zeros(uv.shape[0], np.float32)
    K = frame['K']
    Kd = np.asarray(frame.get('K_depth', K), np.float64)
    rays = np.c_[uv, np.ones(len(uv))] @ np.linalg.inv(K).T
    pd = rays @ Kd.T
    x = np.round(pd[:, 0] / pd[:, 2]).astype(int)
    y = np.round(pd[:, 1] / pd[:, 2]).astype(int)
    h, w = depth.shape
    ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    z = np.zeros(len(uv), np.float32)
    z[ok] = depth[y[ok], x[ok]]
    z[~np.isfinite(z)] = 0
    return z


@TASK_UTILS.register_module()
class FeatureTracker:
    """Tracks learned keypoints through a posed sequence (FaVoR step 1).

    Args:
        extractor (dict | DenseFeatureExtractor): feature extractor or its config.
        **conf: overrides of :attr:`default_conf`:

            * ``match_threshold`` (float): minimum cosine of a mutual-NN match (0.7-0.8).
            * ``ransac_threshold`` (float): essential-matrix RANSAC threshold, pixels.
            * ``ransac_confidence`` (float): RANSAC confidence.
            * ``min_ransac_matches`` (int): fewer matches than this are all rejected.
            * ``patch_half`` (int): half patch size (3: 7x7 patches).
            * ``min_track_length`` (int): a track that ends shorter than this is dropped.
            * ``retrieval_keypoints`` (int): descriptors kept per frame for retrieval.
            * ``patch_dtype`` (str): storage dtype of patches (``'float16'``/``'float32'``).
            * ``pose_atol`` (float): tolerance of the pose rigidity check.
            * ``show_progress`` (bool): tqdm bar over frames.
    """

    default_conf = dict(
        match_threshold=0.7,
        # essential-matrix check of the matches of consecutive frames
        ransac_threshold=2.0, ransac_confidence=0.999, min_ransac_matches=8,
        patch_half=3, patch_dtype='float16', min_track_length=5,
        retrieval_keypoints=512, pose_atol=1e-3, show_progress=True)

    def __init__(self, extractor=None, **conf):
        self.conf = merge_conf(self.default_conf, conf, type(self).__name__)
        if not 0.0 <= self.conf['match_threshold'] <= 1.0:
            raise ValueError('match_threshold must be in [0, 1], got '
                             f"{self.conf['match_threshold']}")
        self.extractor = build_extractor(extractor)
        # keypoints need a full patch inside the image
        if self.extractor.conf['border'] < self.conf['patch_half'] + 1:
            self.extractor.conf['border'] = self.conf['patch_half'] + 1

    # ------------------------------------------------------------------ matching
    def match_frames(self, feats0: Dict, feats1: Dict, K0: np.ndarray, K1: np.ndarray) -> Tensor:
        """Mutual-NN matches of two frames that pass the essential-matrix RANSAC.

        Args:
            feats0, feats1 (dict): extractor outputs (``keypoints``, ``descriptors``).
            K0, K1 (np.ndarray): (3, 3) intrinsics of the two frames.

        Returns:
            Tensor: (K, 2) int64 keypoint index pairs ``(i0, i1)``.
        """
        import cv2
        m = mutual_nn_match(feats0['descriptors'], feats1['descriptors'],
                            self.conf['match_threshold'])
        if m.shape[0] < max(self.conf['min_ransac_matches'], 5):
            return torch.zeros(0, 2, dtype=torch.long)
        i0, i1 = m[:, 0].long(), m[:, 1].long()
        p0 = feats0['keypoints'][i0].double().numpy()
        p1 = feats1['keypoints'][i1].double().numpy()
        n0 = (np.c_[p0, np.ones(len(p0))] @ np.linalg.inv(K0).T)[:, :2]
        n1 = (np.c_[p1, np.ones(len(p1))] @ np.linalg.inv(K1).T)[:, :2]
        focal = float(np.mean([K0[0, 0], K0[1, 1], K1[0, 0], K1[1, 1]]))
        try:
            E, mask = cv2.findEssentialMat(n0, n1, np.eye(3), method=cv2.RANSAC,
                                           prob=self.conf['ransac_confidence'],
                                           threshold=self.conf['ransac_threshold'] / focal)
        except cv2.error:
            E, mask = None, None
        if E is None or mask is None:
            return torch.zeros(0, 2, dtype=torch.long)
        ok = torch.from_numpy(mask.ravel().astype(bool))
        return torch.stack([i0[ok], i1[ok]], -1)

    # ------------------------------------------------------------------ main loop
    def run(self, frames: Iterable[Dict], num_frames: Optional[int] = None) -> TrackSet:
        """Track keypoints through a posed sequence.

        Args:
            frames (Iterable[dict]): posed frames in order, each with ``image``
                (H, W, 3) uint8 RGB, ``K`` (3, 3), ``T_c2w`` (4, 4) and optional
                ``depth`` (H, W) metres, ``K_depth`` (3, 3), ``name``.
            num_frames (int, optional): length for the progress bar.

        Returns:
            TrackSet: observations of every track of length >= ``min_track_length``.

        Raises:
            ValueError: for a frame without pose, a non-rigid pose, bad
                intrinsics, a depth map of the wrong size, or no frame at all.
        """
        from tqdm import tqdm
        c = self.conf
        half = c['patch_half']
        pdtype = getattr(torch, c['patch_dtype'])
        if num_frames is None and hasattr(frames, '__len__'):
            num_frames = len(frames)  # type: ignore[arg-type]
        poses, Ks, sizes, names, retrieval = [], [], [], [], []
        # finished tracks: lists of observation tuples
        done: List[List[tuple]] = []
        active: Dict[int, List[tuple]] = {}  # keypoint index in previous frame -> track
        prev = None
        bar = tqdm(frames, total=num_frames, desc='tracking', disable=not c['show_progress'])
        for fi, raw in enumerate(bar):
            frame = check_frame(raw, fi, c['pose_atol'])
            feats = self.extractor(dict(image=frame['image']))
            kpts = feats['keypoints']
            patches = sample_patches(feats['dense'], kpts, half).to(pdtype)
            depths = torch.from_numpy(_depth_at(frame, kpts.double().numpy()))
            desc = feats['descriptors']
            obs = [(fi, kpts[k], patches[k], desc[k], depths[k]) for k in range(kpts.shape[0])]
            new_active: Dict[int, List[tuple]] = {}
            if prev is not None:
                pairs = self.match_frames(prev[0], feats, prev[1], frame['K'])
                for i0, i1 in pairs.tolist():
                    track = active.pop(i0, None)
                    if track is not None:
                        track.append(obs[i1])
                        new_active[i1] = track
            for k in range(len(obs)):
                if k not in new_active:
                    new_active[k] = [obs[k]]
            for track in active.values():  # tracks that ended at the previous frame
                if len(track) >= c['min_track_length']:
                    done.append(track)
            active = new_active
            prev = (feats, frame['K'])
            poses.append(frame['T_c2w'])
            Ks.append(frame['K'])
            sizes.append(feats['image_size'])
            names.append(str(frame['name']))
            retrieval.append(desc[:c['retrieval_keypoints']].to(torch.float16).clone())
            bar.set_postfix(tracks=len(done), active=len(active))
            del feats
        if not poses:
            raise ValueError('frames is empty: tracking needs at least two posed frames')
        for track in active.values():
            if len(track) >= c['min_track_length']:
                done.append(track)
        return self._pack(done, poses, Ks, sizes, names, retrieval)

    def _pack(self, tracks, poses, Ks, sizes, names, retrieval) -> TrackSet:
        half = self.conf['patch_half']
        p = 2 * half + 1
        cdim = self.extractor.descriptor_dim
        pdtype = getattr(torch, self.conf['patch_dtype'])
        obs = [(t, o) for t, track in enumerate(tracks) for o in track]
        if obs:
            track_ids = torch.tensor([t for t, _ in obs], dtype=torch.long)
            frame_ids = torch.tensor([o[0] for _, o in obs], dtype=torch.long)
            uv = torch.stack([o[1] for _, o in obs]).float()
            patches = torch.stack([o[2] for _, o in obs])
            desc = torch.stack([o[3] for _, o in obs]).float()
            depths = torch.stack([o[4] for _, o in obs]).float()
        else:
            track_ids = frame_ids = torch.zeros(0, dtype=torch.long)
            uv = torch.zeros(0, 2)
            patches = torch.zeros(0, p, p, cdim, dtype=pdtype)
            desc = torch.zeros(0, cdim)
            depths = torch.zeros(0)
        return TrackSet(track_ids, frame_ids, uv, patches, desc, depths,
                        torch.from_numpy(np.stack(poses)), torch.from_numpy(np.stack(Ks)),
                        torch.tensor(sizes, dtype=torch.long), names, retrieval,
                        self.extractor.feature_type, half).sorted()

    __call__ = run
