"""Benchmark of FramePainter matching attention (time and peak memory).

At the paper's largest U-Net level (N = 9,216 tokens = 96 x 96, C = 320,
8 heads, 2 frames, B = 1) it times one forward pass (no autograd) of

* ``matching_sdpa``        MatchingAttention, fused SDPA kernel (the default);
* ``matching_chunked``     MatchingAttention, query-chunked PyTorch kernel;
* ``matching_naive``       MatchingAttention, softmax(Q K^T / sqrt(d)) V with
                           the full map (the reference);
* ``self_attention_fused`` a plain self-attention module of the same width
                           (q/k/v/out projections, SDPA over
                           (B * F, heads, N, d)): what the block already pays;

each in a fresh subprocess (``--rounds`` rounds over the variants,
interleaved), and measures the growth of the process's peak resident memory
during the first call (Linux: peak RSS reset through
``/proc/self/clear_refs``, read back as ``VmHWM``; elsewhere ``ru_maxrss``).
Torch allocations are invisible to ``tracemalloc``, so RSS is what we read.

Time = the fastest call of a variant over all rounds (``--repeats`` calls per
round, 1 for naive); memory = the largest growth. Prints a table, then three
``TARGET`` lines. Always exits 0.

Usage::

    python benchmarks/bench_matching_attention.py [--tokens 9216] [--dim 320]
        [--heads 8] [--frames 2] [--batch 1] [--rounds 2] [--repeats 3]
        [--threads N]
        [--variants matching_sdpa,matching_naive,...]
"""
import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ('matching_sdpa', 'matching_chunked', 'matching_naive',
            'self_attention_fused')
REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------
# worker (one variant, fresh process)
# --------------------------------------------------------------------------
def _status_kb(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> bool:
    """Reset the peak RSS to the current RSS (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _build(variant: str, args: argparse.Namespace):
    import torch
    from torch import nn
    import torch.nn.functional as F

    from vision_sparse.models.layers import MatchingAttention

    if variant.startswith('matching_'):
        impl = variant.split('_', 1)[1]
        return MatchingAttention(args.dim, args.heads, num_frames=args.frames,
                                 attn_impl=impl, zero_init_out=False)

    class FusedSelfAttention(nn.Module):
        """Plain self-attention per frame: (B*F, heads, N, d) SDPA."""

        def __init__(self, dim: int, heads: int) -> None:
            super().__init__()
            self.heads = heads
            self.to_q = nn.Linear(dim, dim, bias=False)
            self.to_k = nn.Linear(dim, dim, bias=False)
            self.to_v = nn.Linear(dim, dim, bias=False)
            self.to_out = nn.Linear(dim, dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            bf, n, c = x.shape

            def split(t):
                return t.reshape(bf, n, self.heads, -1).transpose(1, 2)

            out = F.scaled_dot_product_attention(
                split(self.to_q(x)), split(self.to_k(x)), split(self.to_v(x)))
            return self.to_out(out.transpose(1, 2).reshape(bf, n, c))

    return FusedSelfAttention(args.dim, args.heads)


def run_worker(args: argparse.Namespace) -> None:
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    module = _build(args.worker, args).eval()
    bf = args.batch * args.frames
    with torch.no_grad():
        # warm-up at a tiny size: thread pools, kernel dispatch, lazy inits
        module(torch.randn(bf, 64, args.dim))
        x = torch.randn(bf, args.tokens, args.dim)
        gc.collect()
        exact = _reset_peak()
        rss0 = _status_kb('VmRSS') if exact else 0
        max0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        times, cpu = [], []
        t0, c0 = time.perf_counter(), time.process_time()
        out = module(x)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if exact:
            growth_kb = _status_kb('VmHWM') - rss0
        else:  # only a lower bound of the growth (the peak may predate us)
            growth_kb = resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss - max0
        del out
        repeats = args.naive_repeats if 'naive' in args.worker else args.repeats
        for _ in range(repeats - 1):
            t0, c0 = time.perf_counter(), time.process_time()
            module(x)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    print('RESULT ' + json.dumps(
        dict(variant=args.worker, times=times, cpu_times=cpu,
             peak_growth_mb=growth_kb / 1024.0,
             exact_peak=exact)), flush=True)


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------
def run_variant(variant: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), '--worker', variant]
    for name in ('tokens', 'dim', 'heads', 'frames', 'batch', 'repeats',
                 'naive_repeats', 'threads'):
        cmd += ['--' + name.replace('_', '-'), str(getattr(args, name))]
    env = dict(os.environ)
    env['PYTHONPATH'] = str(REPO_ROOT) + os.pathsep + env.get('PYTHONPATH', '')
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=args.timeout, env=env)
    except subprocess.TimeoutExpired:
        return dict(variant=variant, error=f'timed out after {args.timeout}s')
    for line in proc.stdout.splitlines():
        if line.startswith('RESULT '):
            return json.loads(line[len('RESULT '):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return dict(variant=variant,
                error=f'exit code {proc.returncode}: ' + ' | '.join(tail))


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float('nan')


def _fmt(value, spec: str) -> str:
    return format(value, spec) if value == value else 'n/a'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tokens', type=int, default=9216,
                        help='tokens N per frame (default 9216 = 96 x 96)')
    parser.add_argument('--dim', type=int, default=320)
    parser.add_argument('--heads', type=int, default=8)
    parser.add_argument('--frames', type=int, default=2)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--rounds', type=int, default=2,
                        help='rounds over all variants, each variant in a '
                        'fresh subprocess per round')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed calls per efficient variant and round')
    parser.add_argument('--naive-repeats', type=int, default=1,
                        help='timed calls of the naive variant')
    parser.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    parser.add_argument('--timeout', type=int, default=240,
                        help='seconds per variant subprocess')
    parser.add_argument('--variants', default=','.join(VARIANTS),
                        help='comma-separated subset of ' + ', '.join(VARIANTS))
    parser.add_argument('--json', default=None, help='also write results here')
    parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return

    variants = [v for v in args.variants.split(',') if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        print(f'unknown variants {unknown}; choose from {VARIANTS}')
        variants = [v for v in variants if v in VARIANTS]
    load_start = _load()
    print(f'matching attention: B={args.batch} F={args.frames} '
          f'N={args.tokens} C={args.dim} heads={args.heads} '
          f'threads={args.threads}, forward without autograd, float32')
    # Rounds interleave the variants, so that a burst of load from other
    # processes does not fall on one variant only; the time of a variant is
    # the fastest of all its calls (min is the least noisy estimate on a
    # shared machine), its memory the largest growth seen.
    runs = {v: [] for v in variants}
    for rnd in range(max(args.rounds, 1)):
        for variant in variants:
            res = run_variant(variant, args)
            if 'error' in res:
                print(f'  round {rnd + 1} {variant}: FAILED ({res["error"]})',
                      flush=True)
                continue
            runs[variant].append(res)
            print(f'  round {rnd + 1} {variant}: calls '
                  + ', '.join(f'{t:.2f}' for t in res['times'])
                  + f' s, peak growth {res["peak_growth_mb"]:.0f} MB'
                  f' (load {_load():.1f})', flush=True)
    results = {}
    for variant, rs in runs.items():
        if rs:
            results[variant] = dict(
                time_s=min(t for r in rs for t in r['times']),
                cpu_s=min(t for r in rs for t in r['cpu_times']),
                peak_growth_mb=max(r['peak_growth_mb'] for r in rs),
                exact_peak=all(r['exact_peak'] for r in rs),
                runs=rs)

    nan = float('nan')

    def get(variant: str, key: str) -> float:
        return results.get(variant, {}).get(key, nan)

    print()
    print(f'{"variant":<22} {"time (s)":>10} {"CPU (s)":>9} '
          f'{"peak growth (MB)":>18}   (fastest call; largest growth)')
    for variant in variants:
        print(f'{variant:<22} {_fmt(get(variant, "time_s"), ".2f"):>10} '
              f'{_fmt(get(variant, "cpu_s"), ".2f"):>9} '
              f'{_fmt(get(variant, "peak_growth_mb"), ".0f"):>18}')
    print('load average (1 min) at start / end: '
          f'{load_start:.1f} / {_load():.1f} on {os.cpu_count()} CPUs '
          '(a busy machine slows every variant; CPU time = user + system '
          'time of all threads of the call)')
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    print()

    speedup = get('matching_naive', 'time_s') / get('matching_sdpa', 'time_s')
    # A growth below 1 MB is noise; count it as 1 MB (conservative).
    memory = (max(get('matching_sdpa', 'peak_growth_mb'), 1.0) /
              get('matching_naive', 'peak_growth_mb'))
    vs_fused = (get('matching_sdpa', 'time_s') /
                get('self_attention_fused', 'time_s'))

    def verdict(ok: bool) -> str:
        return 'PASS' if ok else 'FAIL'

    print(f'TARGET matching_attention_speedup_vs_naive '
          f'measured={_fmt(speedup, ".2f")} goal=>=10 '
          f'{verdict(speedup >= 10)}')
    print(f'TARGET matching_attention_memory_vs_naive '
          f'measured={_fmt(memory, ".4f")} goal=<=0.05 '
          f'{verdict(memory <= 0.05)}')
    print(f'TARGET matching_attention_time_vs_fused_self_attention '
          f'measured={_fmt(vs_fused, ".2f")} goal=<=1.5 '
          f'{verdict(vs_fused <= 1.5)}')


if __name__ == '__main__':
    try:
        main()
    except Exception as exc:  # noqa: BLE001 - a benchmark must exit 0
        print(f'benchmark failed: {type(exc).__name__}: {exc}')
    sys.exit(0)
