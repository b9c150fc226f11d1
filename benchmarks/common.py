"""Helpers every benchmark script shares (imported as ``common``: a script's own folder is
first on ``sys.path`` when it runs as ``python benchmarks/<name>.py``)."""
import math
import sys
import time
import traceback
from typing import Callable, Optional

__all__ = ['best_time', 'fmt_t', 'run_sections', 'run_script']


def best_time(fn: Callable, repeat: int, sync: Optional[Callable[[], None]] = None):
    """Run ``fn`` ``repeat`` times (at least once); returns ``(last result, best seconds)``.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called before and after each timed call.
    """
    out, best = None, float('inf')
    for _ in range(max(1, repeat)):
        if sync:
            sync()
        t0 = time.perf_counter()
        out = fn()
        if sync:
            sync()
        best = min(best, time.perf_counter() - t0)
    return out, best


def fmt_t(t: Optional[float], decimals: int = 1) -> str:
    """Seconds as a right-aligned ``'   12.3 ms'``, ``'n/a'`` for None / NaN."""
    return 'n/a' if t is None or math.isnan(t) else f'{t * 1e3:10.{decimals}f} ms'


def run_script(main: Callable) -> None:
    """Run a benchmark's ``main`` and exit 0 whatever happens (bad arguments and errors are
    printed): a benchmark reports FAIL in its TARGET lines, it never fails the shell."""
    try:
        main()
    except SystemExit as exc:  # argparse errors / --help
        if exc.code not in (0, None):
            print(f'bad arguments ({exc.code})')
    except Exception:
        traceback.print_exc()
    sys.exit(0)


def run_sections(sections: dict, names, args) -> None:
    """Run the named sections of a benchmark, then print their ``TARGET`` lines together.

    ``sections`` maps a name to ``(function(args) -> list of TARGET lines, description)``.
    Each section is announced and timed; an exception in one is printed and the others
    still run (its TARGET lines are then missing: the script still exits 0).
    """
    lines = []
    for name in names:
        fn, desc = sections[name]
        print(f'\n== {name}: {desc}')
        t0 = time.perf_counter()
        try:
            lines += fn(args)
        except Exception:  # a section never stops the others
            traceback.print_exc()
        print(f'({name}: {time.perf_counter() - t0:.0f} s)')
    print()
    for line in lines:
        print(line)
