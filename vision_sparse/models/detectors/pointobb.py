"""PointOBB: oriented pseudo boxes from one annotated point per object.

Training (:meth:`PointOBB.loss`) follows a **view schedule driven by the global
training iteration** (mmengine's ``MessageHub`` info ``'iter'``, which the runner
restores on ``--resume``; the official code counts iterations in the model and
restarts the schedule at 0 after a resume):

* phase 1 (``iter < angle_start_iter``, or always without an angle head): the
  original view and a view resized by ``s ~ U(resize_range)``; MIL losses in both
  and the scale-sensitive consistency (SSC) loss between them;
* phase 2 (``angle_start_iter <= iter``): the original view and a view rotated by
  ``phi ~ U(rotate_range_deg)`` (or, with ``flip_prob``, flipped vertically) in one
  batch; MIL in both views (the view's bags are the original bags moved into the
  view, angle ``phi`` / mirrored), the angle head's self-supervised loss; the
  resized view stays only with ``resize_after_angle_start=True`` (official: off);
* phase 3 (``rotated_bags_start_iter <= iter``): as phase 2, but every bag is
  rotated by the angle the angle head predicts at its point, read at the FPN level
  that pools each proposal (rotation-agnostic classes keep angle 0).

Our additions (off by default, see ``PointOBB``'s arguments): **self-training of the
angle head** from the MIL pseudo boxes (``angle_self_training``: the head's point codes
regress to the long-side angle of the current, detached pseudo boxes, in any phase of
its iteration window), a **separate set of bag angles** around the predicted angle
(``oriented_bag_angles``, phase 3 and test) and **test-time view averaging** of the
predicted angle (``test_cfg['angle_tta']``).

Random draws of an iteration (``s``, ``phi``, flip, stage-1 negatives) come from a
generator seeded by ``(view_schedule.seed, iter)``, so a resumed run draws the same
views as an uninterrupted one.

Prediction (:meth:`PointOBB.predict`) returns one pseudo box per GIVEN point
(``gt_instances.points`` / ``labels``), in the original image's coordinates.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet.structures import DetDataSample
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor

from vision_sparse.registry import MODELS
from vision_sparse.structures.bbox.rotated_boxes import RotatedBoxes, regularize_boxes
from vision_sparse.utils.config import merge_conf
from ..roi_heads.pointobb_roi_head import circular_mean_angle
from ..task_modules.prior_generators import PointBagGenerator
from .pointobb_views import flip_boxes, flip_view, resize_view, rotate_boxes, rotate_view, wrap_angle

__all__ = ['PointOBB', 'current_iter', 'long_side_angle', 'circular_mean_angle']


def long_side_angle(boxes: Tensor) -> Tensor:
    """(N, 5) boxes -> (N,) angle of the long side, wrapped to ``[-pi/2, pi/2)``."""
    return regularize_boxes(boxes, 'le90', width_longer=True)[:, 4]


def current_iter() -> int:
    """The global training iteration from mmengine's current ``MessageHub`` (0 if unset)."""
    it = MessageHub.get_current_instance().get_info('iter')
    return int(it) if it is not None else 0


DEFAULT_VIEW_SCHEDULE = dict(
    angle_start_iter=16000,           # official burn_in_steps1 (DOTA, 2x schedule)
    rotated_bags_start_iter=22000,    # official burn_in_steps2
    resize_view=True,
    resize_after_angle_start=False,
    resize_range=(0.5, 1.5),
    rotate_range_deg=(45.0, 135.0),
    flip_prob=0.05,
    padding_mode='zeros',
    seed=0,
)

DEFAULT_ANGLE_SELF_TRAINING = dict(
    start_iter=0,        # first iteration with the loss
    end_iter=None,       # first iteration without it (None: to the end)
    loss_weight=1.0,
)


@MODELS.register_module()
class PointOBB(BaseModel):
    """PointOBB detector (backbone + FPN + angle head + MIL RoI head).

    An mmengine ``BaseModel`` with mmdet's detector interface (``forward`` with
    ``mode`` 'loss' / 'predict' / 'tensor'); it does not subclass mmdet's
    ``BaseDetector`` so that importing vision_sparse does not import ``mmdet.models``.

    Args:
        backbone (dict): e.g. ``dict(type='mmdet.ResNet', depth=50, ...)``.
        neck (dict): e.g. ``dict(type='mmdet.FPN', ...)``.
        roi_head (dict): a :class:`~vision_sparse.models.roi_heads.PointOBBRoIHead`.
        angle_head (dict, optional): ``PointOBBAngleHead`` config; None trains MIL and
            SSC only (phase 1 throughout, horizontal pseudo boxes).
        ssc_loss (dict): :class:`~vision_sparse.models.losses.SSCLoss` config.
        view_schedule (dict): see ``DEFAULT_VIEW_SCHEDULE`` in this module and the
            module docstring.
        rotation_agnostic_labels (list[int]): classes without an orientation (e.g.
            storage tanks): their bags are never rotated and the angle head leaves them
            out of its loss (passed on to ``angle_head`` unless it names them itself).
        angle_self_training (dict, optional): our addition: train the angle head to
            regress the long-side angle of the objects' MIL pseudo boxes (final stage,
            detached; :meth:`PointOBBAngleHead.pseudo_loss`) in iterations
            ``[start_iter, end_iter)``, logged as ``loss_angle_pseudo``; keys and
            defaults in ``DEFAULT_ANGLE_SELF_TRAINING``. None (default): off, as the paper.
            It warm-starts the self-supervised angle loss (phase 2), which does not
            start learning from a random head.
        oriented_bag_angles (Sequence[float], optional): angles (radians) of the bag
            boxes relative to the predicted angle whenever bags follow the angle head
            (phase 3 and test); None (default): the bag generator's ``base_angles``.
            E.g. ``[0.0]``: bags at the predicted angle only (the paper's rule).
        oriented_angle_levels (Sequence[int], optional): read the predicted angle of a
            point as the mean (doubled-angle circle) over these FPN levels for every
            proposal; None (default, official): each proposal's own pooling level.
        test_cfg (dict, optional): ``rotate_bags`` (default True: at test, bags use
            the predicted angles when there is an angle head); ``angle_tta`` (default
            ``()``): extra views, ``dict(kind='rotate', phi_deg=90)`` or
            ``dict(kind='flip', direction='vertical')``, whose predicted point angles,
            mapped back to the image, are averaged with the image's own on the
            doubled-angle circle (per level) before the bags are rotated; ``box_tta``
            (default ``()``, same entries): views in which every proposal of both MIL
            stages is scored again (the proposal moved into the view); its top-k merge
            weight is the mean over the image and these views (our addition; views shared
            with ``angle_tta`` are computed once; the returned ``scores`` stay the image's own).
            Flips and quarter turns are exact; other angles interpolate the image.
        train_cfg (dict, optional): unused (kept for mmdet signature parity).
        data_preprocessor (dict, optional): ``mmdet.DetDataPreprocessor`` config.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self, backbone: dict, neck: dict, roi_head: dict, angle_head: Optional[dict] = None,
                 ssc_loss: Optional[dict] = None, view_schedule: Optional[dict] = None,
                 rotation_agnostic_labels: Sequence[int] = (),
                 angle_self_training: Optional[dict] = None,
                 oriented_bag_angles: Optional[Sequence[float]] = None,
                 oriented_angle_levels: Optional[Sequence[int]] = None,
                 test_cfg: Optional[dict] = None,
                 train_cfg: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.roi_head = MODELS.build(roi_head)
        if isinstance(angle_head, dict):
            angle_head = self._with_agnostic_labels(angle_head, rotation_agnostic_labels)
        self.angle_head = MODELS.build(angle_head) if isinstance(angle_head, dict) else angle_head
        self.ssc_loss = MODELS.build(ssc_loss or dict(type='SSCLoss'))
        self.schedule = merge_conf(DEFAULT_VIEW_SCHEDULE, view_schedule, 'PointOBB.view_schedule')
        sch = self.schedule
        if not 0 <= sch['angle_start_iter'] <= sch['rotated_bags_start_iter']:
            raise ValueError('view_schedule needs 0 <= angle_start_iter <= rotated_bags_start_iter, '
                             f'got {sch["angle_start_iter"]}, {sch["rotated_bags_start_iter"]}')
        lo, hi = sch['resize_range']
        if not 0 < lo <= hi:
            raise ValueError(f'view_schedule.resize_range must be 0 < lo <= hi, got {sch["resize_range"]}')
        self.rotation_agnostic_labels = [int(v) for v in rotation_agnostic_labels]
        self.angle_self_training = None if angle_self_training is None else merge_conf(
            DEFAULT_ANGLE_SELF_TRAINING, angle_self_training, 'PointOBB.angle_self_training')
        self._oriented_generator = None
        if oriented_bag_angles is not None:
            self._oriented_generator = PointBagGenerator(
                **{**self.roi_head.bag_generator.conf,
                   'base_angles': tuple(float(a) for a in oriented_bag_angles)})
        self.oriented_angle_levels = (None if oriented_angle_levels is None
                                      else [int(v) for v in oriented_angle_levels])
        unknown = sorted(set(test_cfg or {}) - {'rotate_bags', 'angle_tta', 'box_tta'})
        if unknown:
            raise ValueError(f'PointOBB.test_cfg: unknown options {unknown} '
                             "(known: 'rotate_bags', 'angle_tta', 'box_tta')")
        self.test_cfg = {'rotate_bags': True, 'angle_tta': (), 'box_tta': (), **(test_cfg or {})}
        for key in ('angle_tta', 'box_tta'):
            if self.test_cfg[key] is None:  # None switches the views off, as ()
                self.test_cfg[key] = ()
            for v in self.test_cfg[key]:
                phi = v.get('phi_deg') if isinstance(v, dict) else None
                ok = isinstance(v, dict) and (
                    (v.get('kind') == 'rotate' and isinstance(phi, (int, float))
                     and not isinstance(phi, bool) and math.isfinite(phi))
                    or (v.get('kind') == 'flip'
                        and v.get('direction', 'vertical') in ('vertical', 'horizontal')))
                if not ok:
                    raise ValueError(f"test_cfg.{key} entries must be dict(kind='rotate', "
                                     f"phi_deg=<finite number>) or dict(kind='flip', "
                                     f"direction='vertical' | 'horizontal'), got {v!r}")
        self.train_cfg = train_cfg
        self.num_classes = self.roi_head.bbox_head.num_classes

    @staticmethod
    def _with_agnostic_labels(angle_head: dict, labels: Sequence[int]) -> dict:
        """The angle head config with the model's rotation-agnostic classes (one list for
        both): filled in when the head sets none, a ValueError when it sets others."""
        head = dict(angle_head)
        labels = sorted(int(v) for v in labels)
        given = head.get('angle_agnostic_labels')
        if given is None or (not list(given) and not head.get('angle_agnostic_classes')):
            if labels:
                head['angle_agnostic_labels'] = labels
        elif sorted(int(v) for v in given) != labels:
            raise ValueError(f'angle_head.angle_agnostic_labels {list(given)} differ from '
                             f'rotation_agnostic_labels {labels}: give the classes once, in '
                             'rotation_agnostic_labels')
        return head

    # ------------------------------------------------------------------ basics
    def forward(self, inputs: Tensor, data_samples: Optional[Sequence[DetDataSample]] = None,
                mode: str = 'tensor'):
        """mmdet's dispatch: 'loss' -> :meth:`loss`, 'predict' -> :meth:`predict`,
        'tensor' -> :meth:`_forward` (the FPN features)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor, ...]:
        """(B, 3, H, W) normalised images -> FPN levels (B, C, H_l, W_l)."""
        return tuple(self.neck(self.backbone(batch_inputs)))

    def _forward(self, batch_inputs: Tensor, batch_data_samples=None) -> Tuple[Tensor, ...]:
        """Network forward without post-processing: the FPN features."""
        return self.extract_feat(batch_inputs)

    def phase(self, it: int) -> int:
        """View phase (1, 2 or 3) at global iteration ``it``."""
        if self.angle_head is None or it < self.schedule['angle_start_iter']:
            return 1
        return 3 if it >= self.schedule['rotated_bags_start_iter'] else 2

    def _generator(self, it: int) -> torch.Generator:
        return torch.Generator().manual_seed(int(self.schedule['seed']) * 1_000_003 + int(it))

    # ------------------------------------------------------------------ inputs
    def _unpack(self, batch_inputs: Tensor, data_samples: Sequence[DetDataSample]):
        """Points, labels, validity and image shapes of a batch (validated)."""
        if len(data_samples) != batch_inputs.shape[0]:
            raise ValueError(f'batch_data_samples must hold {batch_inputs.shape[0]} samples, '
                             f'got {len(data_samples)}')
        points, labels, valid, shapes = [], [], [], []
        for ds in data_samples:
            gt = ds.gt_instances
            if 'points' not in gt or 'labels' not in gt:
                raise ValueError(f'gt_instances must have points (N, 2) and labels (N,), got '
                                 f'fields {sorted(gt.keys())} ({ds.metainfo.get("img_path")})')
            p = torch.as_tensor(gt.points, dtype=batch_inputs.dtype, device=batch_inputs.device)
            lab = torch.as_tensor(gt.labels, device=batch_inputs.device).long()
            if p.dim() != 2 or p.shape[-1] != 2 or lab.shape != p.shape[:1]:
                raise ValueError(f'gt_instances.points must be (N, 2) and labels (N,), got '
                                 f'{tuple(p.shape)} and {tuple(lab.shape)} ({ds.metainfo.get("img_path")})')
            if lab.numel() and (lab.min() < 0 or lab.max() >= self.num_classes):
                raise ValueError(f'gt_instances.labels must be in [0, {self.num_classes}), got '
                                 f'{sorted(set(lab.tolist()))} ({ds.metainfo.get("img_path")})')
            h, w = ds.metainfo.get('img_shape', batch_inputs.shape[-2:])[:2]
            ok = torch.isfinite(p).all(-1) & (p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)
            points.append(p)
            labels.append(lab)
            valid.append(ok)
            shapes.append((int(h), int(w)))
        return points, labels, valid, shapes

    # ------------------------------------------------------------------ bags
    def _agnostic(self, labels: Tensor) -> Tensor:
        mask = torch.zeros_like(labels, dtype=torch.bool)
        for c in self.rotation_agnostic_labels:
            mask |= labels == c
        return mask

    def _horizontal_bags(self, points: List[Tensor], labels: List[Tensor],
                         shapes: Sequence[Tuple[int, int]]) -> Tuple[List[Tensor], List[Tensor]]:
        """Bags not rotated by predicted angles (the bag generator's ``base_angles``);
        rotation-agnostic classes keep angle 0 (their boxes are axis-aligned squares)."""
        bags, valid = self.roi_head.stage_bags(points, shapes)
        if self.rotation_agnostic_labels:
            for b, lab in zip(bags, labels):
                b[..., 4] = torch.where(self._agnostic(lab)[:, None], torch.zeros_like(b[..., 4]),
                                        b[..., 4])
        return bags, valid

    def _oriented_bags(self, codes: Optional[List[Tensor]], points: List[Tensor], labels: List[Tensor],
                       shapes: Sequence[Tuple[int, int]],
                       per_level: Optional[List[Tensor]] = None) -> Tuple[List[Tensor], List[Tensor]]:
        """Bags rotated by the predicted angle of each point at each proposal's level
        (``per_level``: per image (N_i, L) angles, default decoded from ``codes``)."""
        gen = self._oriented_generator
        if gen is None:
            bags, _ = self.roi_head.stage_bags(points, shapes)
        else:
            bags = [gen.bags(p, s)[0] for p, s in zip(points, shapes)]
        if per_level is None:
            per_level = self.angle_head.point_angles(codes, points)  # list of (N_i, L)
        if self.oriented_angle_levels is not None:
            lv = self.oriented_angle_levels
            per_level = [circular_mean_angle(a[:, lv], torch.ones_like(a[:, lv]), dim=1)[:, None]
                         .expand_as(a) for a in per_level]
        angles = []
        for b, a, lab in zip(bags, per_level, labels):
            lvl = self.roi_head.proposal_levels(b).clamp(max=a.shape[-1] - 1) if b.numel() else \
                b.new_zeros(b.shape[:2], dtype=torch.long)
            ang = torch.gather(a.detach().to(b.dtype), 1, lvl) if b.shape[0] else b.new_zeros(b.shape[:2])
            angles.append(torch.where(self._agnostic(lab)[:, None], torch.zeros_like(ang), ang))
        if gen is None:
            return self.roi_head.stage_bags(points, shapes, angles)
        out = [gen.bags(p, s, a) for p, s, a in zip(points, shapes, angles)]
        return [o[0] for o in out], [o[1] for o in out]

    def _view(self, batch_inputs: Tensor, points: List[Tensor], shapes, view: dict, cache: Optional[dict]):
        """A test-time view of the batch: ``(images, feats, points, ok)`` (``ok``: the
        point lies inside the view), cached in ``cache`` by the view's settings."""
        key = (('rotate', float(view['phi_deg']) % 360.0) if view['kind'] == 'rotate'
               else ('flip', view.get('direction', 'vertical')))
        if cache is not None and key in cache:
            return cache[key]
        if view['kind'] == 'rotate':
            v_imgs, v_pts, _, v_ok = rotate_view(batch_inputs, points,
                                                 math.radians(float(view['phi_deg'])), img_shapes=shapes)
        else:
            v_imgs, v_pts, _ = flip_view(batch_inputs, points, view.get('direction', 'vertical'))
            v_ok = [torch.isfinite(q).all(-1) for q in v_pts]
        out = (v_imgs, self.extract_feat(v_imgs), v_pts, v_ok)
        if cache is not None:
            cache[key] = out
        return out

    @staticmethod
    def _boxes_to_view(boxes: Tensor, view: dict, size: Tuple[int, int]) -> Tensor:
        if view['kind'] == 'rotate':
            return rotate_boxes(boxes, math.radians(float(view['phi_deg'])), size)
        return flip_boxes(boxes, view.get('direction', 'vertical'), size)

    def tta_point_angles(self, batch_inputs: Tensor, feats: Sequence[Tensor],
                         points: List[Tensor], shapes: Sequence[Tuple[int, int]],
                         cache: Optional[dict] = None) -> List[Tensor]:
        """Per image (N_i, L) predicted point angles averaged over the image and the
        ``test_cfg['angle_tta']`` views (each mapped back: ``- phi`` for a rotation,
        negated for a flip), on the doubled-angle circle; a point that leaves a view
        keeps the other views' mean. ``cache``: view features shared with ``box_tta``."""
        per_level = self.angle_head.point_angles(self.angle_head(feats), points)
        sums = [torch.stack([torch.cos(2 * a), torch.sin(2 * a)]) for a in per_level]
        for view in self.test_cfg['angle_tta']:
            phi = math.radians(float(view['phi_deg'])) if view['kind'] == 'rotate' else None
            _, v_feats, v_pts, v_ok = self._view(batch_inputs, points, shapes, view, cache)
            safe = [torch.where(k[:, None], q, torch.zeros_like(q)) for q, k in zip(v_pts, v_ok)]
            v_angles = self.angle_head.point_angles(self.angle_head(v_feats), safe)
            for i, (a, k) in enumerate(zip(v_angles, v_ok)):
                back = a - phi if phi is not None else -a
                add = torch.stack([torch.cos(2 * back), torch.sin(2 * back)]) * k[None, :, None].to(a)
                sums[i] = sums[i] + add
        return [0.5 * torch.atan2(s[1], s[0]) for s in sums]

    def _box_views(self, batch_inputs: Tensor, points: List[Tensor], shapes, props: List[Tensor],
                   valid: List[Tensor], cache: Optional[dict]) -> Optional[List[Tuple]]:
        """``(feats, props, valid)`` of every ``test_cfg['box_tta']`` view (None without
        such views): the same proposals moved into the view, valid where valid in the image
        and inside the view's tensor (a view maps the padded batch tensor onto itself, so the
        image's region moves with the view: a proposal inside the image stays inside its
        mapped region)."""
        if not self.test_cfg['box_tta']:
            return None
        out = []
        size = tuple(batch_inputs.shape[-2:])
        for view in self.test_cfg['box_tta']:
            _, v_feats, _, _ = self._view(batch_inputs, points, shapes, view, cache)
            v_props = [self._boxes_to_view(p, view, size) for p in props]
            v_valid = [v & self.roi_head.bag_generator._inside(q, size) if q.shape[0] else v
                       for v, q in zip(valid, v_props)]
            out.append((v_feats, v_props, v_valid))
        return out

    def _view_bags(self, bags: List[Tensor], valid: List[Tensor], view_points: List[Tensor],
                   view: dict, shapes) -> Tuple[List[Tensor], List[Tensor]]:
        """The original bags moved into the rotated / flipped view."""
        out_b, out_v = [], []
        for b, v, p, s in zip(bags, valid, view_points, shapes):
            nb = b.clone()
            nb[..., :2] = p[:, None, :]
            nb[..., 4] = wrap_angle(b[..., 4] + view['phi']) if view['kind'] == 'rotate' \
                else wrap_angle(-b[..., 4])
            nv = v.clone()
            if nb.shape[0]:
                nv &= self.roi_head.bag_generator._inside(nb, s)
            out_b.append(nb)
            out_v.append(nv)
        return out_b, out_v

    # ------------------------------------------------------------------ training
    def loss(self, batch_inputs: Tensor, batch_data_samples: Sequence[DetDataSample]) -> Dict[str, Tensor]:
        """Losses of one training batch.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) preprocessed images.
            batch_data_samples (list[DetDataSample]): with ``gt_instances.points``
                (N_i, 2) and ``labels`` (N_i,). Points that are NaN or outside
                ``img_shape`` are ignored (no loss contribution).

        Returns:
            dict: ``stage0_loss_mil``, ``stage1_loss_mil``, ``stage1_loss_neg``,
            ``loss_ssc_cls`` / ``loss_ssc_ins`` (when the resized view is on),
            ``loss_angle`` (phases 2-3), accuracies and ``view_phase`` (logged only).

        Raises:
            ValueError: missing fields, bad shapes, labels outside [0, num_classes).
        """
        points, labels, valid, shapes = self._unpack(batch_inputs, batch_data_samples)
        pts = [p[v] for p, v in zip(points, valid)]
        lbl = [l[v] for l, v in zip(labels, valid)]
        it = current_iter()
        phase = self.phase(it)
        gen = self._generator(it)
        sch = self.schedule
        b = batch_inputs.shape[0]
        losses: Dict[str, Tensor] = {}

        if phase == 1:
            feats = self.extract_feat(batch_inputs)
            codes = None
            bags, bag_valid = self._horizontal_bags(pts, lbl, shapes)
            props, props_valid, all_lbl, all_shapes = bags, bag_valid, lbl, shapes
        else:
            if float(torch.rand(1, generator=gen)) < sch['flip_prob']:
                view = dict(kind='flip')
                v_imgs, v_pts, _ = flip_view(batch_inputs, pts, 'vertical')
                hh = batch_inputs.shape[-2]
                v_ok = [torch.isfinite(q).all(-1) & (q[:, 1] >= hh - s[0]) & (q[:, 1] < hh)
                        for q, s in zip(v_pts, shapes)]
            else:
                lo, hi = sch['rotate_range_deg']
                phi = math.radians(lo + (hi - lo) * float(torch.rand(1, generator=gen)))
                view = dict(kind='rotate', phi=phi)
                v_imgs, v_pts, _, v_ok = rotate_view(batch_inputs, pts, phi, img_shapes=shapes,
                                                     padding_mode=sch['padding_mode'])
            views = [dict(view) for _ in range(b)]
            feats = self.extract_feat(torch.cat([batch_inputs, v_imgs]))
            codes = self.angle_head(feats)
            codes_ori = [c[:b] for c in codes]
            codes_view = [c[b:] for c in codes]
            losses.update(self.angle_head.loss(codes_ori, codes_view, pts, v_pts, lbl, views, v_ok))
            v_shapes = [tuple(v_imgs.shape[-2:])] * b
            v_lbl = [x[k] for x, k in zip(lbl, v_ok)]
            v_kept = [x[k] for x, k in zip(v_pts, v_ok)]
            if phase == 3:
                bags, bag_valid = self._oriented_bags(codes_ori, pts, lbl, shapes)
                vb, vv = self._oriented_bags(codes_view, v_kept, v_lbl, v_shapes)
            else:
                bags, bag_valid = self._horizontal_bags(pts, lbl, shapes)
                vb, vv = self._view_bags([x[k] for x, k in zip(bags, v_ok)],
                                         [x[k] for x, k in zip(bag_valid, v_ok)], v_kept, view, v_shapes)
            props, props_valid = bags + vb, bag_valid + vv
            all_lbl = lbl + v_lbl
            all_shapes = list(shapes) + v_shapes

        out0 = self.roi_head.run_stage(0, feats, props, props_valid, all_lbl, generator=gen,
                                       img_shapes=all_shapes)
        losses.update(out0['losses'])

        use_resize = sch['resize_view'] and (phase == 1 or sch['resize_after_angle_start'])
        if use_resize:
            losses.update(self._resized_view_losses(batch_inputs, pts, bags, bag_valid, lbl, out0, gen))

        if self.roi_head.num_stages > 1:
            n_img = [p.shape[0] for p in props]
            boxes0 = list(out0['boxes'].split(n_img))
            props1, valid1 = self.roi_head.refine_props(boxes0, all_shapes)
            out1 = self.roi_head.run_stage(1, feats, props1, valid1, all_lbl, bag_weight=out0['scores'],
                                           generator=gen, img_shapes=all_shapes,
                                           # its boxes are the angle self-training targets
                                           rescore=self.angle_self_training is not None)
            losses.update(out1['losses'])
        st = self.angle_self_training
        if self.angle_head is not None and st is not None and st['start_iter'] <= it and (
                st['end_iter'] is None or it < st['end_iter']):
            final = out1['boxes'] if self.roi_head.num_stages > 1 else out0['boxes']
            if codes is None:
                codes = self.angle_head(feats)
            target = long_side_angle(final.detach()).split([p.shape[0] for p in props])
            st_pts = pts if phase == 1 else pts + v_kept
            losses['loss_angle_pseudo'] = self.angle_head.pseudo_loss(
                codes, st_pts, list(target), all_lbl, st['loss_weight'])
        if codes is not None and phase > 1 and 'loss_angle' not in losses:
            losses['loss_angle'] = sum(c.sum() for c in codes) * 0
        losses['view_phase'] = batch_inputs.new_tensor(float(phase))
        return losses

    def _resized_view_losses(self, imgs, pts, bags, bag_valid, lbl, out0, gen) -> Dict[str, Tensor]:
        lo, hi = self.schedule['resize_range']
        s = lo + (hi - lo) * float(torch.rand(1, generator=gen))
        r_imgs, r_pts, _, (sx, sy) = resize_view(imgs, pts, s)
        r_bags = []
        for bg in bags:
            nb = bg.clone()
            nb[..., 0] *= sx
            nb[..., 1] *= sy
            nb[..., 2:4] *= (sx + sy) / 2
            r_bags.append(nb)
        r_feats = self.extract_feat(r_imgs)
        r_out = self.roi_head.run_stage(0, r_feats, r_bags, bag_valid, lbl, rescore=False)
        out = {f'resized_{k}': v for k, v in r_out['losses'].items()}
        n = sum(p.shape[0] for p in pts)
        out.update(self.ssc_loss(out0['cls_prob'][:n], out0['ins_weight'][:n], r_out['cls_prob'],
                                 r_out['ins_weight'], self.roi_head.bag_generator.num_scales))
        return out

    # ------------------------------------------------------------------ inference
    def predict(self, batch_inputs: Tensor, batch_data_samples: Sequence[DetDataSample],
                rescale: bool = True) -> List[DetDataSample]:
        """Pseudo boxes for the given points.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) preprocessed images.
            batch_data_samples (list[DetDataSample]): ``gt_instances.points`` (N_i, 2)
                in the packed image and ``labels`` (N_i,).
            rescale (bool): boxes in the original image (``/ scale_factor``).

        Returns:
            list[DetDataSample]: ``pred_instances`` with ``bboxes``
            (:class:`RotatedBoxes` (N_i, 5), 'le90', one row per given point, in the
            given order), ``labels`` (the given labels) and ``scores`` (N_i,) (the
            final MIL bag score of the label). Points that are NaN or outside the
            image get an all-zero box and score 0.
        """
        points, labels, valid, shapes = self._unpack(batch_inputs, batch_data_samples)
        pts = [p[v] for p, v in zip(points, valid)]
        lbl = [l[v] for l, v in zip(labels, valid)]
        feats = self.extract_feat(batch_inputs)
        # the views' features are kept for the merge only when box_tta uses them
        cache: Optional[dict] = {} if self.test_cfg['box_tta'] else None
        if self.angle_head is not None and self.test_cfg['rotate_bags']:
            if self.test_cfg['angle_tta']:
                per_level = self.tta_point_angles(batch_inputs, feats, pts, shapes, cache)
                bags, bag_valid = self._oriented_bags(None, pts, lbl, shapes, per_level)
            else:
                bags, bag_valid = self._oriented_bags(self.angle_head(feats), pts, lbl, shapes)
        else:
            bags, bag_valid = self._horizontal_bags(pts, lbl, shapes)
        views = self._box_views(batch_inputs, pts, shapes, bags, bag_valid, cache)
        out = self.roi_head.run_stage(0, feats, bags, bag_valid, lbl, with_loss=False, points=pts,
                                      views=views)
        if self.roi_head.num_stages > 1:
            boxes0 = list(out['boxes'].split([p.shape[0] for p in pts]))
            props1, valid1 = self.roi_head.refine_props(boxes0, shapes)
            views = self._box_views(batch_inputs, pts, shapes, props1, valid1, cache)
            out = self.roi_head.run_stage(1, feats, props1, valid1, lbl, with_loss=False, points=pts,
                                          views=views)
        boxes_all = out['boxes'].split([p.shape[0] for p in pts])
        scores_all = out['scores'].split([p.shape[0] for p in pts])
        for ds, p, v, lab, bx, sc in zip(batch_data_samples, points, valid, labels, boxes_all, scores_all):
            boxes = p.new_zeros(p.shape[0], 5)
            scores = p.new_zeros(p.shape[0])
            boxes[v] = bx.to(boxes.dtype)
            scores[v] = sc.to(scores.dtype)
            if rescale:
                boxes = self._to_original(boxes, ds.metainfo.get('scale_factor', (1.0, 1.0)))
            res = InstanceData()
            res.bboxes = RotatedBoxes(regularize_boxes(boxes))
            res.labels = lab
            res.scores = scores
            ds.pred_instances = res
        return list(batch_data_samples)

    @staticmethod
    def _to_original(boxes: Tensor, scale_factor: Union[Sequence[float], float]) -> Tensor:
        """Undo a resize by ``scale_factor = (sx, sy)`` (packed = original * s).

        For ``sx != sy`` the rectangle becomes a parallelogram; the box keeps the
        direction and length of its w side mapped exactly and the area (h adjusted).
        """
        sf = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
        sx, sy = float(sf[0]), float(sf[1])
        out = boxes.clone()
        out[:, 0] /= sx
        out[:, 1] /= sy
        if abs(sx - sy) < 1e-9:
            out[:, 2:4] /= sx
            return out
        c, s = torch.cos(boxes[:, 4]), torch.sin(boxes[:, 4])
        wx, wy = boxes[:, 2] * c / sx, boxes[:, 2] * s / sy
        new_w = torch.sqrt(wx ** 2 + wy ** 2)
        out[:, 2] = new_w
        out[:, 3] = torch.where(new_w > 0, boxes[:, 2] * boxes[:, 3] / (sx * sy) / new_w.clamp(min=1e-12),
                                boxes[:, 3] / sy)
        out[:, 4] = torch.atan2(wy, wx)
        return out
