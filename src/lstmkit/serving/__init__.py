"""Serving saved models: the HTTP server of ``lstmkit serve`` (:mod:`.http`)."""

from lstmkit.serving.http import MAX_BODY_BYTES, ModelService, make_server, model_kind, serve

__all__ = ["MAX_BODY_BYTES", "ModelService", "make_server", "model_kind", "serve"]
