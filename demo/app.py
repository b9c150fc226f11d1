#!/usr/bin/env python
"""The interactive web app: one tab per method, on the bundled samples or your own files.

    python demo/app.py [--host 127.0.0.1] [--port 7860] [--tabs matching,reloc,attention,boxes,fusion]

Open the printed address (http://127.0.0.1:7860 by default) in a browser. The server binds
to this machine only unless ``--host 0.0.0.0`` is given (then anyone on the network can use
it: there is no login). Stop it with Ctrl+C.
"""
import argparse
import logging
import sys

from vision_sparse.app import TABS, launch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--host', default='127.0.0.1', help='interface to bind (default 127.0.0.1)')
    parser.add_argument('--port', type=int, default=7860, help='TCP port (default 7860)')
    parser.add_argument('--tabs', default=','.join(TABS),
                        help=f'comma-separated tabs to serve, in order (default {",".join(TABS)})')
    args = parser.parse_args(argv)
    args.tabs = [t.strip() for t in args.tabs.split(',') if t.strip()]
    unknown = [t for t in args.tabs if t not in TABS]
    if unknown:
        parser.error(f'--tabs: unknown {unknown}; choose from {list(TABS)}')
    if not 0 < args.port < 65536:
        parser.error(f'--port must be in 1..65535, got {args.port}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    launch(host=args.host, port=args.port, tabs=args.tabs, block=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
