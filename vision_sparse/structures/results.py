"""The result contract shared by every method's top-level call.

Every matcher, area matcher, relocalizer, detector and inferencer returns a plain
``dict`` (LightGlue style) that always holds:

- ``success`` (bool): the method produced its documented outputs.
- ``reason`` (str): ``''`` on success, otherwise one sentence saying why not
  (bad input is an exception, not a failed result: a result fails when the input
  was valid but the method could not answer, e.g. too few matches for a pose).
- ``timings`` (dict[str, float]): seconds per stage (may be empty).

plus the method's own documented outputs (tensors or arrays; empty ones on failure,
never missing keys).
"""
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Mapping, Optional

__all__ = ['RESULT_KEYS', 'new_result', 'finalize_result', 'check_result', 'timed']

#: Keys every result carries.
RESULT_KEYS = ('success', 'reason', 'timings')


def new_result(success: bool = True, reason: str = '', timings: Optional[Mapping] = None,
               **outputs: Any) -> Dict[str, Any]:
    """A result dict with the contract keys and the given outputs."""
    return finalize_result(dict(outputs, success=success, reason=reason,
                                timings=dict(timings or {})))


def finalize_result(result: Dict[str, Any], success: Optional[bool] = None) -> Dict[str, Any]:
    """Fill in missing contract keys in place and return ``result``.

    ``success`` defaults to ``not reason``; ``reason`` to ``''``; ``timings`` to ``{}``.
    A given ``success`` overrides the stored one. A failed result always gets a reason.
    """
    if not isinstance(result, dict):
        raise TypeError(f'a result must be a dict, got {type(result).__name__}')
    reason = str(result.get('reason') or '')
    if success is None:
        success = bool(result.get('success', not reason))
    result['success'] = bool(success)
    result['reason'] = '' if success else (reason or 'failed (no reason given)')
    result.setdefault('timings', {})
    return result


def check_result(result: Any, name: str = 'result') -> Dict[str, Any]:
    """Raise ``ValueError`` unless ``result`` follows the contract; return it."""
    if not isinstance(result, dict):
        raise ValueError(f'{name} must be a dict, got {type(result).__name__}')
    missing = [k for k in RESULT_KEYS if k not in result]
    if missing:
        raise ValueError(f'{name} lacks the contract keys {missing}')
    if not isinstance(result['success'], bool):
        raise ValueError(f'{name}["success"] must be a bool, got {type(result["success"]).__name__}')
    if not isinstance(result['reason'], str):
        raise ValueError(f'{name}["reason"] must be a str')
    if result['success'] == bool(result['reason']):
        raise ValueError(f'{name}: "reason" must be empty exactly when "success" is True, got '
                         f'success={result["success"]}, reason={result["reason"]!r}')
    if not isinstance(result['timings'], dict):
        raise ValueError(f'{name}["timings"] must be a dict of seconds')
    return result


@contextmanager
def timed(timings: Dict[str, float], key: str) -> Iterator[None]:
    """Add the seconds spent in the block to ``timings[key]``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
