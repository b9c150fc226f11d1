"""An mmengine visualizer that draws vision_sparse's data.

:class:`SparseVisualizer` is registered in
:data:`vision_sparse.registry.VISUALIZERS`, so a config builds it the way mmdet
builds ``DetLocalVisualizer``::

    visualizer = dict(type='SparseVisualizer', name='vis',
                      vis_backends=[dict(type='LocalVisBackend')])

Its methods draw with the OpenCV functions of :mod:`vision_sparse.visualization`
on the visualizer's current image (what :meth:`get_image` returns, so
mmengine's own ``draw_texts`` / ``draw_bboxes`` and ours can be mixed) and set
the result as the new current image. :meth:`draw_matches` and :meth:`draw_bev`
make a new canvas (two images side by side, a bird's-eye view) and set it.
Every method also returns the new image (``(H, W, 3)`` RGB ``uint8``).
"""
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmengine.visualization import Visualizer

from vision_sparse.registry import VISUALIZERS
from .areas import draw_areas
from .bev import draw_bev
from .boxes3d import draw_boxes3d_on_image
from .images import save_image, to_rgb
from .matches import draw_matches
from .shapes import draw_rotated_boxes

__all__ = ['SparseVisualizer']


@VISUALIZERS.register_module()
class SparseVisualizer(Visualizer):
    """Matches, rotated boxes, areas, 3-D boxes and bird's-eye views.

    Args:
        name (str): instance name (mmengine keeps one instance per name).
        image (np.ndarray, optional): initial image, RGB.
        vis_backends (list[dict], optional): mmengine visualisation backends.
        save_dir (str, optional): folder of the backends' files.
        class_names (Sequence[str], optional): names for label text; None
            uses ``dataset_meta['classes']`` when it is set.
        line_width (int): line thickness of boxes, pixels, ``>= 1``.
        alpha (float): opacity of area overlays in ``[0, 1]``.
        max_matches (int): at most this many match lines are drawn.
        bev_range (tuple): ``(x_min, y_min, x_max, y_max)`` metres of
            :meth:`draw_bev`.
        bev_resolution (float): metres per pixel of :meth:`draw_bev`, ``> 0``.
        forward_axis (str): ``'x'`` or ``'y'``, the LiDAR axis drawn upwards in
            :meth:`draw_bev`.

    Raises:
        ValueError: for a ``line_width < 1``, ``alpha`` outside ``[0, 1]``,
            ``bev_resolution <= 0`` or an unknown ``forward_axis``.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[Sequence[dict]] = None,
                 save_dir: Optional[str] = None,
                 class_names: Optional[Sequence[str]] = None,
                 line_width: int = 2,
                 alpha: float = 0.4,
                 max_matches: int = 1000,
                 bev_range: Tuple[float, float, float, float] = (-54, -54, 54,
                                                                 54),
                 bev_resolution: float = 0.1,
                 forward_axis: str = 'x') -> None:
        if line_width < 1:
            raise ValueError(f'line_width must be >= 1, got {line_width}')
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        if bev_resolution <= 0:
            raise ValueError(
                f'bev_resolution must be > 0, got {bev_resolution}')
        if forward_axis not in ('x', 'y'):
            raise ValueError(f"forward_axis must be 'x' or 'y', "
                             f'got {forward_axis!r}')
        super().__init__(name=name, image=None, vis_backends=vis_backends,
                         save_dir=save_dir)
        if image is not None:
            self.set_image(to_rgb(image, 'image'))
        self.class_names = None if class_names is None else list(class_names)
        self.line_width = int(line_width)
        self.alpha = float(alpha)
        self.max_matches = int(max_matches)
        self.bev_range = tuple(float(v) for v in bev_range)
        self.bev_resolution = float(bev_resolution)
        self.forward_axis = forward_axis

    # ------------------------------------------------------------ helpers
    def _names(self) -> Optional[Sequence[str]]:
        if self.class_names is not None:
            return self.class_names
        meta = self.dataset_meta or {}
        return meta.get('classes')

    def _current(self) -> np.ndarray:
        if getattr(self, '_image', None) is None:
            raise ValueError('no image to draw on: call set_image(image) or '
                             'add_datasample(name, image, ...) first')
        return self.get_image()

    def _set(self, img: np.ndarray) -> np.ndarray:
        self.set_image(img)
        return img

    # ------------------------------------------------------------ drawing
    def draw_matches(self,
                     img0: np.ndarray,
                     img1: np.ndarray,
                     kpts0,
                     kpts1,
                     inlier_mask=None,
                     color=None,
                     text=None) -> np.ndarray:
        """Set the image to ``img0 | img1`` with lines between matches.

        Args:
            img0, img1 (np.ndarray): the two images (any accepted format).
            kpts0, kpts1: ``(N, 2)`` matched pixels ``(x, y)`` in each image.
            inlier_mask: ``(N,)`` bool, inliers green and outliers red.
            color: match colours (see
                :func:`~vision_sparse.visualization.draw_matches`).
            text (str | Sequence[str], optional): lines written top-left.

        Returns:
            np.ndarray: ``(max(H0, H1), W0 + 10 + W1, 3)`` uint8.
        """
        return self._set(
            draw_matches(img0, img1, kpts0, kpts1, color=color,
                         inlier_mask=inlier_mask, max_lines=self.max_matches,
                         text=text))

    def draw_rotated_boxes(self,
                           boxes,
                           labels=None,
                           scores=None,
                           color=None) -> np.ndarray:
        """Draw ``(N, 5)`` rotated boxes ``(cx, cy, w, h, theta)`` (pixels,
        radians) with their heading on the current image.

        Args:
            boxes: ``(N, 5)`` array/tensor or ``RotatedBoxes``.
            labels: ``(N,)`` int labels (colour and text), optional.
            scores: ``(N,)`` scores (text), optional.
            color: None (label colours), an RGB tuple, ``(N, 3)`` colours or
                ``(N,)`` values to colour-map.

        Returns:
            np.ndarray: the new current image.
        """
        return self._set(
            draw_rotated_boxes(self._current(), boxes, labels=labels,
                               scores=scores, class_names=self._names(),
                               color=color, thickness=self.line_width))

    def draw_areas(self, areas, colors=None,
                   labels: Optional[Sequence[str]] = None) -> np.ndarray:
        """Overlay areas (``(K, H, W)`` masks, ``(K, 4)`` / ``(K, 5)`` boxes)
        on the current image with opacity :attr:`alpha`.

        Returns:
            np.ndarray: the new current image.
        """
        return self._set(
            draw_areas(self._current(), areas, colors=colors,
                       alpha=self.alpha, labels=labels))

    def draw_boxes3d(self,
                     boxes3d,
                     cam2img,
                     lidar2cam=None,
                     labels=None,
                     scores=None,
                     color=None) -> np.ndarray:
        """Project 3-D boxes into the current (camera) image.

        Args:
            boxes3d (LiDARBoxes3D | CameraBoxes3D): boxes.
            cam2img: ``(3, 3)`` intrinsics or ``(3, 4)`` / ``(4, 4)``
                projection.
            lidar2cam: ``(4, 4)`` LiDAR -> camera for LiDAR boxes, else None.
            labels, scores: ``(N,)`` optional label text / colours.
            color: box colours (see
                :func:`~vision_sparse.visualization.draw_boxes3d_on_image`).

        Returns:
            np.ndarray: the new current image.
        """
        return self._set(
            draw_boxes3d_on_image(self._current(), boxes3d, cam2img,
                                  lidar2cam=lidar2cam, color=color,
                                  labels=labels, scores=scores,
                                  class_names=self._names(),
                                  thickness=self.line_width))

    def draw_bev(self,
                 points=None,
                 boxes=None,
                 gt_boxes=None,
                 labels=None,
                 scores=None) -> np.ndarray:
        """Set the image to a bird's-eye view of a LiDAR frame.

        The canvas covers :attr:`bev_range` at :attr:`bev_resolution` with
        :attr:`forward_axis` up (see :func:`~vision_sparse.visualization.draw_bev`).

        Args:
            points: ``(P, >=2)`` LiDAR points, metres, or None.
            boxes: ``(N, 5)`` BEV / ``(N, >=7)`` LiDAR boxes or
                ``LiDARBoxes3D``, or None.
            gt_boxes: ground-truth boxes in the same formats, or None.
            labels, scores: ``(N,)`` of ``boxes``, optional.

        Returns:
            np.ndarray: the BEV image.
        """
        return self._set(
            draw_bev(points=points, boxes=boxes, gt_boxes=gt_boxes,
                     range_m=self.bev_range, resolution=self.bev_resolution,
                     labels=labels, scores=scores,
                     class_names=self._names(), thickness=self.line_width,
                     forward_axis=self.forward_axis))

    # ------------------------------------------------------------ datasamples
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[Mapping[str, Any]] = None,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0) -> np.ndarray:
        """Draw one sample and show it, write it or hand it to the backends.

        ``data_sample`` is a dict (or any mapping, e.g. a method's result)
        whose known keys are drawn in this order, missing keys skipped:

        * ``'areas'`` (+ ``'area_labels'``): area overlay on ``image``;
        * ``'rboxes'`` (+ ``'labels'``, ``'scores'``): rotated boxes;
        * ``'boxes3d'`` + ``'cam2img'`` (+ ``'lidar2cam'``, ``'labels_3d'``,
          ``'scores_3d'``): 3-D boxes on ``image``;
        * ``'image1'`` + ``'kpts0'`` + ``'kpts1'`` (+ ``'inlier_mask'``):
          the (annotated) ``image`` and ``image1`` side by side with matches.

        Args:
            name (str): image name for the backends.
            image (np.ndarray): RGB image (any accepted format).
            data_sample (Mapping, optional): what to draw; None draws nothing.
            show (bool): show the result in a window.
            wait_time (float): seconds the window stays open.
            out_file (str, optional): write the result here as a PNG (the
                path must end in ``.png``) instead of handing it to the backends.
            step (int): global step for the backends.

        Returns:
            np.ndarray: the drawn image.
        """
        sample: Dict[str, Any] = dict(data_sample or {})
        self.set_image(to_rgb(image, 'image'))
        if sample.get('areas') is not None:
            self.draw_areas(sample['areas'], labels=sample.get('area_labels'))
        if sample.get('rboxes') is not None:
            self.draw_rotated_boxes(sample['rboxes'], sample.get('labels'),
                                    sample.get('scores'))
        if sample.get('boxes3d') is not None:
            if sample.get('cam2img') is None:
                raise ValueError("data_sample with 'boxes3d' needs 'cam2img'")
            self.draw_boxes3d(sample['boxes3d'], sample['cam2img'],
                              sample.get('lidar2cam'),
                              sample.get('labels_3d'),
                              sample.get('scores_3d'))
        if sample.get('image1') is not None:
            if sample.get('kpts0') is None or sample.get('kpts1') is None:
                raise ValueError("data_sample with 'image1' needs 'kpts0' and "
                                 "'kpts1'")
            self.draw_matches(self.get_image(), sample['image1'],
                              sample['kpts0'], sample['kpts1'],
                              inlier_mask=sample.get('inlier_mask'))
        drawn = self.get_image()
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            save_image(out_file, drawn)
        else:
            self.add_image(name, drawn, step)
        return drawn
