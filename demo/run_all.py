#!/usr/bin/env python
"""`make demo`: run every method's demo on the sample data, pictures under --out."""
import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (name, script, extra args). Each writes into <out>/<name>/.
DEMOS = [
    ('geometry', 'geometry_demo.py', []),
    ('matching_attention', 'matching_attention_demo.py', []),
    ('a2pm', 'match_demo.py', []),
    ('favor', 'reloc_demo.py', []),
    ('obb', 'obb_demo.py', []),
    ('fusion', 'fusion_demo.py', ['--synthetic']),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default='work_dirs/demo')
    parser.add_argument('--only', nargs='*', help='names of demos to run')
    args = parser.parse_args()
    out = Path(args.out).resolve()
    failed = []
    for name, script, extra in DEMOS:
        if args.only and name not in args.only:
            continue
        if not (HERE / script).is_file():
            print(f'[{name}] skipped: {script} is not there yet')
            continue
        print(f'[{name}] python demo/{script}', flush=True)
        t0 = time.time()
        rc = subprocess.call([sys.executable, str(HERE / script), '--out', str(out / name)]
                             + extra)
        print(f'[{name}] {"done" if rc == 0 else f"FAILED ({rc})"} in {time.time() - t0:.0f} s')
        if rc != 0:
            failed.append(name)
    pngs = sorted(out.rglob('*.png'))
    print(f'\n{len(pngs)} pictures under {out}:')
    for p in pngs:
        print(f'  {p}')
    if failed:
        sys.exit(f'demos failed: {failed}')


if __name__ == '__main__':
    main()
