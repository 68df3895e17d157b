"""``lstmkit serve``: answer predictions of a saved model over HTTP (see
:mod:`lstmkit.serving`)."""

from __future__ import annotations

import argparse


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="a saved forecaster, classifier or tagger (the folder train wrote)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, this machine only; "
                             "0.0.0.0 for every interface; :: for every interface, IPv6 "
                             "and IPv4)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")


def run(args: argparse.Namespace) -> int:
    from lstmkit.serving import serve

    serve(args.model, args.host, args.port)
    return 0
