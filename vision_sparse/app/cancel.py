"""Stopping long app handlers for real: per-session stop flags checked between steps.

Gradio's ``cancels=[event]`` drops the event's task, but a handler already running in a
worker thread keeps computing. The tabs that build maps or train models therefore start
each run with :meth:`StopFlags.start` (one flag per browser session), hand the returned
:class:`threading.Event` to their progress callback (:func:`reporter`), and the Stop
button's callback calls :meth:`StopFlags.stop`: the next progress report raises
:class:`Cancelled` and the work ends.

(Shared by the ``reloc`` and ``attention`` tabs; a candidate for :mod:`.common`.)
"""
import threading
from typing import Any, Callable, Dict, Optional

from .common import AppError

__all__ = ['Cancelled', 'StopFlags', 'reporter', 'session_key']


class Cancelled(AppError):
    """The user pressed Stop; the message is shown as the status."""


def session_key(request: Any) -> str:
    """A key for one browser session (``gr.Request.session_hash``; ``''`` without one)."""
    return str(getattr(request, 'session_hash', None) or '')


class StopFlags:
    """One stop flag (a :class:`threading.Event`) per session key."""

    def __init__(self) -> None:
        self._events: Dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, key: str) -> threading.Event:
        """A fresh, unset flag for a new run of session ``key``."""
        with self._lock:
            event = self._events[key] = threading.Event()
        return event

    def stop(self, key: str) -> bool:
        """Set the flag of session ``key``'s current run; False when none is known."""
        with self._lock:
            event = self._events.get(key)
        if event is None:
            return False
        event.set()
        return True


def reporter(progress: Optional[Callable] = None, stop: Optional[threading.Event] = None,
             start: float = 0.0, end: float = 1.0) -> Callable[[float, str], None]:
    """A ``report(fraction, text)`` callable for long work.

    It raises :class:`Cancelled` when ``stop`` is set, then forwards
    ``start + fraction * (end - start)`` and ``text`` to ``progress`` (a
    ``gr.Progress`` or any ``progress(fraction, desc=...)`` callable).
    """
    def report(fraction: float, text: str = '') -> None:
        if stop is not None and stop.is_set():
            raise Cancelled('stopped with the Stop button (nothing was kept from this run)')
        if progress is not None:
            value = start + min(max(float(fraction), 0.0), 1.0) * (end - start)
            progress(value, desc=text)

    return report
