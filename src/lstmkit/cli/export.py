"""``lstmkit export``: write a saved model as an ONNX file (see :mod:`lstmkit.serving.export`)."""

from __future__ import annotations

import argparse


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="a saved forecaster, classifier or tagger (the folder train wrote)")
    parser.add_argument("--out", required=True,
                        help="the ONNX file to write (e.g. model.onnx; outside a "
                             "forecaster's folder, which its next save replaces whole; in a "
                             "classifier's or tagger's, beside the model's own files)")


def run(args: argparse.Namespace) -> int:
    from lstmkit.serving import export_onnx

    report = export_onnx(args.model, args.out)
    print(report.summary())
    return 0
