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
    import logging
    import os
    import sys
    import threading

    from lstmkit.serving import serve

    try:
        cut, status = serve(args.model, args.host, args.port), 0
    except KeyboardInterrupt:  # a second Ctrl-C: at once, dropping the requests in flight
        if threading.active_count() == 1:  # (no request ran: Ctrl-C while the model loaded)
            raise  # (said by lstmkit's main; Python exits as usual)
        print("lstmkit serve: interrupted", file=sys.stderr)
        cut, status = True, 130  # (128 + SIGINT, as a shell reports it)
    if cut:
        # predictions may still run, inside torch, and an interpreter that exits under
        # their threads aborts (SIGABRT): the process ends here, at once
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(status)
    return status
