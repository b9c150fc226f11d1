"""A local web app with one tab per method (Gradio), on the bundled samples or your own files.

    python demo/app.py [--host 127.0.0.1] [--port 7860] [--tabs matching,reloc,...]
    make app

Every tab calls the public one-call API (:mod:`vision_sparse.apis`), so what the page shows
is what a user's code gets. Tabs (``TABS``, in page order):

* ``matching``   A2PM (MESA / DMESA) with any point matcher: areas, numbered area pairs,
  crop-pair grid, point matches, pose error on samples with ground truth, matches download;
* ``reloc``      FaVoR relocalization: build or load a landmark map, localise a query;
* ``attention``  FramePainter matching attention: correspondences and a pixel's attention;
* ``boxes``      oriented boxes: DOTA / DIOR-R samples, rotated NMS, PointOBB from clicked points;
* ``fusion``     SparseFusion: the nuScenes keyframe, detections on six cameras + BEV.

The handlers live in ``vision_sparse/app/<tab>.py`` and run without a browser (unit tests);
the conventions they share are in :mod:`vision_sparse.app.common`.
"""
import importlib
from typing import Optional, Sequence

from .common import AppError, Timings, guarded, read_image

#: tab module names, in page order
TABS = ('matching', 'reloc', 'attention', 'boxes', 'fusion')

HEADER = ('# vision_sparse\n'
          'Sparse perception on your own images or the bundled samples: A2PM area-to-point '
          'matching, FaVoR relocalization, FramePainter matching attention, oriented boxes '
          '(PointOBB) and LiDAR-camera 3-D detection (SparseFusion). Runs on CPU; every tab '
          'calls `vision_sparse.apis`.')

__all__ = ['TABS', 'build_app', 'launch', 'tab_module', 'AppError', 'Timings', 'guarded',
           'read_image']


def tab_module(name: str):
    """The module of tab ``name`` (one of :data:`TABS`)."""
    if name not in TABS:
        raise ValueError(f'tabs: unknown tab {name!r}; choose from {", ".join(TABS)}')
    return importlib.import_module(f'{__name__}.{name}')


def build_app(tabs: Optional[Sequence[str]] = None):
    """The Gradio Blocks app with the given tabs (default: all of :data:`TABS`).

    Args:
        tabs (Sequence[str] | None): tab names, in page order.

    Returns:
        gradio.Blocks: call ``.launch()`` on it, or use :func:`launch`.
    """
    import gradio as gr
    names = list(TABS if tabs is None else tabs)
    modules = [tab_module(name) for name in names]
    with gr.Blocks(title='vision_sparse') as app:
        gr.Markdown(HEADER)
        with gr.Tabs():
            for name, module in zip(names, modules):
                with gr.Tab(module.TITLE, id=name, elem_id=f'tab-{name}'):
                    module.build(gr)
    # one run at a time per event (CPU-bound work); queued runs show their position
    app.queue(default_concurrency_limit=1)
    return app


def launch(host: str = '127.0.0.1', port: Optional[int] = 7860,
           tabs: Optional[Sequence[str]] = None, block: bool = True, **kwargs):
    """Build and serve the app on ``host:port`` (127.0.0.1 by default: this machine only).

    Args:
        host (str): interface to bind; ``0.0.0.0`` serves the local network (no login!).
        port (int | None): TCP port (None: the first free one from 7860).
        tabs (Sequence[str] | None): tab names (default all).
        block (bool): wait until the server is stopped (False: return at once, e.g. tests).
        **kwargs: passed to ``gradio.Blocks.launch``.

    Returns:
        gradio.Blocks: the running app (``app.local_url``; ``app.close()`` stops it).
    """
    app = build_app(tabs)
    app.launch(server_name=host, server_port=port, prevent_thread_lock=not block,
               show_error=False, **kwargs)
    return app
