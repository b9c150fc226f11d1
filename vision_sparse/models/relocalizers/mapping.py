"""Building a FaVoR landmark map from a posed RGB(-D) sequence.

``tracking -> triangulation -> batched voxel training -> PSNR filter / cap``,
plus the retrieval database of the training images, all saved in one
:class:`~.landmark_map.LandmarkMap` file.
"""
import time
from typing import Callable, Dict, Iterable, Iterator, Optional

import torch

from ...registry import TASK_UTILS
from ...utils.build import build_from_cfg_or_obj
from .feature_extractor import build_extractor
from .landmark_map import LandmarkMap
from .retrieval import GlobalRetrieval
from .tracker import FeatureTracker
from .triangulator import LandmarkTriangulator
from .trainer import BatchedLandmarkTrainer

__all__ = ['build_landmark_map']


def build_landmark_map(frames: Iterable[Dict], extractor=None, tracker: Optional[Dict] = None,
                       triangulator: Optional[Dict] = None, trainer: Optional[Dict] = None,
                       retrieval: Optional[Dict] = None, num_frames: Optional[int] = None,
                       show_progress: bool = True, log=print,
                       progress: Optional[Callable[[float, str], None]] = None) -> LandmarkMap:
    """Track, triangulate and train a landmark map.

    Args:
        frames (Iterable[dict]): posed frames (``image`` (H, W, 3) uint8 RGB,
            ``K`` (3, 3), ``T_c2w`` (4, 4) camera-to-world, optional ``depth``
            (H, W) metres / ``K_depth``, ``name``), in sequence order.
        extractor (dict | DenseFeatureExtractor, optional): feature extractor (config).
        tracker, triangulator, trainer, retrieval (dict, optional): options of
            :class:`FeatureTracker`, :class:`LandmarkTriangulator`,
            :class:`BatchedLandmarkTrainer`, :class:`GlobalRetrieval` (a ``type``
            key builds another registered class).
        num_frames (int, optional): length for the progress bar.
        show_progress (bool): tqdm bars of every stage.
        log (callable): receives one line per stage summary.
        progress (callable, optional): called as ``progress(fraction, stage)``
            with the fraction of the work done in ``[0, 1]`` (tracking up to
            0.45, triangulation 0.5, training up to 0.95, retrieval 1.0) after
            every frame and every training step. An exception it raises (a
            user's cancel) stops the build and propagates.

    Returns:
        LandmarkMap: the trained landmarks with the retrieval database.

    Raises:
        ValueError: bad frames (see :func:`~.tracker.check_frame`), too few tracks
            to triangulate, or no landmark passing the PSNR filter (the message
            says which stage left nothing).
    """
    extractor = build_extractor(extractor)
    trk = FeatureTracker(extractor, **{'show_progress': show_progress, **(tracker or {})})
    tri = build_from_cfg_or_obj({'show_progress': show_progress, **(triangulator or {})},
                                TASK_UTILS, LandmarkTriangulator, name='triangulator')
    trn = build_from_cfg_or_obj({'show_progress': show_progress, **(trainer or {})}, TASK_UTILS,
                                BatchedLandmarkTrainer, name='trainer')
    report = progress if progress is not None else (lambda fraction, stage: None)
    if progress is not None:
        if num_frames is None and hasattr(frames, '__len__'):
            num_frames = len(frames)  # type: ignore[arg-type]
        frames = _reporting(frames, num_frames, report)
    t0 = time.time()
    tracks = trk.run(frames, num_frames=num_frames)
    log(f'[favor] tracking: {tracks.num_frames} frames, {tracks.num_tracks} tracks of length >= '
        f'{trk.conf["min_track_length"]} ({time.time() - t0:.1f}s)')
    if tracks.num_frames < 2:
        raise ValueError(f'too few frames: mapping needs at least 2 posed frames, got '
                         f'{tracks.num_frames}')
    if tracks.num_tracks == 0:
        raise ValueError(f'too few tracks: no track reached {trk.conf["min_track_length"]} '
                         'observations (frames too far apart, too little texture, or '
                         'min_track_length too high)')
    report(0.45, 'triangulating')
    t0 = time.time()
    tri_out = tri(tracks)
    stats = tri_out['stats']
    log(f'[favor] triangulation: {stats} ({time.time() - t0:.1f}s)')
    if tri_out['points'].shape[0] == 0:
        raise ValueError(f'too few tracks: none could be triangulated ({stats})')
    report(0.5, 'training landmarks')
    t0 = time.time()

    def train_step(step: int, total: int) -> None:
        report(0.5 + 0.45 * step / max(total, 1), f'training landmarks: step {step}/{total}')

    res = trn(tri_out['tracks'], tri_out['points'], tri_out['box_min'], tri_out['box_max'],
              progress=train_step if progress is not None else None)
    psnr_all = res['psnr_all']
    trained = int(torch.isfinite(psnr_all).sum())
    log(f'[favor] training: {trained} landmarks trained, {len(res["centers"])} kept with PSNR >= '
        f'{trn.conf["psnr_threshold"]} dB (cap {trn.conf["max_landmarks"]}), median PSNR '
        f'{float(psnr_all[torch.isfinite(psnr_all)].median()) if trained else float("nan"):.2f} dB '
        f'({time.time() - t0:.1f}s)')
    if len(res['centers']) == 0:
        raise ValueError(f'no landmark reached PSNR >= {trn.conf["psnr_threshold"]} dB '
                         f'(best {float(psnr_all.nan_to_num(-1).max()):.2f} dB): train longer or '
                         'lower psnr_threshold')
    ret = build_from_cfg_or_obj(retrieval, TASK_UTILS, GlobalRetrieval, name='retrieval')
    ret.build(tracks.retrieval_descriptors, tracks.poses, tracks.frame_names)
    report(1.0, 'retrieval database built')
    return LandmarkMap(res['centers'], res['box_min'], res['box_max'], res['density'],
                       res['features'], extractor.feature_type, trn.conf['step_ratio'],
                       trn.conf['density_shift'], trn.conf['bg'], psnr=res['psnr'],
                       num_obs=res['num_obs'], retrieval=ret.state_dict(),
                       extra=dict(patch_half=tracks.patch_half, triangulation=stats,
                                  frames=tracks.num_frames))


def _reporting(frames: Iterable[Dict], num_frames: Optional[int],
               report: Callable[[float, str], None]) -> Iterator[Dict]:
    """``frames``, reporting the tracking progress before each frame is handed out."""
    for i, frame in enumerate(frames):
        total = f'/{num_frames}' if num_frames else ''
        report(0.45 * i / num_frames if num_frames else 0.0, f'tracking: frame {i + 1}{total}')
        yield frame
