"""``lstmkit export``: write a saved model as an ONNX file (see :mod:`lstmkit.serving.export`)."""

from __future__ import annotations

import argparse


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="a saved forecaster, classifier or tagger (the folder train wrote)")
    parser.add_argument("--out", required=True,
                        help="the ONNX file to write (e.g. model.onnx; outside the model "
                             "folder, which a new save replaces whole)")
    parser.add_argument("--steps", type=int, default=None,
                        help="classifier or tagger with an LSTM variant: the number of tokens "
                             "the graph takes (inputs padded to it); a plain LSTM takes any")


def run(args: argparse.Namespace) -> int:
    from lstmkit.serving import export_onnx

    report = export_onnx(args.model, args.out, steps=args.steps)
    print(report.summary())
    return 0
