"""Serving saved models: the HTTP server of ``lstmkit serve`` (:mod:`.http`) and the ONNX
export of ``lstmkit export`` (:mod:`.export`)."""

from lstmkit.serving.export import ExportReport, export_onnx, read_metadata
from lstmkit.serving.http import (
    MAX_BODY_BYTES,
    MAX_CHARACTERS,
    MAX_TEXTS,
    ModelService,
    make_server,
    model_kind,
    serve,
)

__all__ = ["MAX_BODY_BYTES", "MAX_CHARACTERS", "MAX_TEXTS", "ExportReport", "ModelService",
           "export_onnx", "make_server", "model_kind", "read_metadata", "serve"]
