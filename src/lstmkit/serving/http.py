"""Serve a saved model over HTTP: ``lstmkit serve --model DIR`` or :func:`serve`.

A saved forecaster, classifier or tagger (the folder ``save`` wrote, its kind read from its
``meta.json``) is loaded once and answers JSON requests:

- ``GET /health``: ``{"status": "ok", "kind": ..., "model": ..., ...}`` with what a client
  needs to know (the labels, the entity types, or the forecaster's columns and horizon).
- ``POST /predict`` with a JSON object:

  - classifier: ``{"texts": [str, ...]}`` -> ``{"predictions": [{"text", "label",
    "probabilities": {label: p}}, ...]}``;
  - tagger: ``{"texts": [str, ...]}`` -> ``{"predictions": [{"text", "entities": [{"text",
    "type", "start", "end", "token_start", "token_end", "score"}, ...]}, ...]}``, or
    ``{"tokens": [[str, ...], ...]}`` (pre-tokenised) -> ``{"predictions": [{"tokens",
    "tags"}, ...]}``;
  - forecaster: ``{"data": [row, ...], "future": [row, ...], "steps": n, "paths": p}``
    (rows as objects of column -> value, the history as a CSV of it would hold; ``future``
    only for a model with known-future covariates, over the steps forecast; ``steps``
    optional, the horizon by default, at most :data:`MAX_HORIZONS` horizons, or one for a
    model with past-only covariates: ``max_steps`` in ``/health``; ``paths`` optional, for a
    quantile model's steps past the horizon, at most :data:`MAX_PATHS`; the request costing
    at most :data:`MAX_WINDOWS` windows) ->
    ``{"forecast": [row, ...]}``, the rows of
    :meth:`~lstmkit.forecasting.Forecaster.predict` (times in ISO 8601).

A bad request is answered ``400`` with ``{"error": message}`` (the message the Python API
or the command line gives for the same input), an unknown path ``404``, a path with another
method than its own ``405`` (its method in ``Allow``), a body over :data:`MAX_BODY_BYTES`
``413`` (and more than :data:`MAX_TEXTS` texts or :data:`MAX_CHARACTERS` characters
``400``); what http.server refuses before (a
malformed request line or header) is JSON too. Requests are served on threads, one
prediction at a time. Stopping (Ctrl-C, SIGTERM, or ``server_close()`` after ``shutdown()``)
lets the requests in flight finish (for up to ``stop_timeout``, 30 seconds, then cuts the
connections left) and closes idle connections.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lstmkit.saving import path_arg

MAX_BODY_BYTES = 32 * 2**20
"""The largest request body served (32 MiB)."""

DRAIN_LIMIT_BYTES = 1024 * 2**20
"""How much of a larger body is read (and dropped) so that the client reads the 413 answer;
past it the connection is closed."""

MAX_HORIZONS = 10
"""A forecast request's ``steps`` are at most this many horizons (forecast recursively past
the first: the answer's size stays a bound multiple of the model's)."""

MAX_PATHS = 2000
"""A forecast request's ``paths`` are at most this many (each is a window per horizon past
the first, per series)."""

MAX_WINDOWS = 200_000
"""A forecast request may cost the network at most this many windows (a window is one
series' lookback forecast over one horizon; a quantile model's steps past the horizon cost
one per path): about 10 s of one request on 2 cores, during which the others wait."""

MAX_TEXTS = 10_000
"""A classifier's or tagger's request holds at most this many texts (or sentences): the
answer is some twenty times the request's size, and one request holds the model while it
is answered (two million one-letter texts, 10 MB, took 2 GB and half a minute)."""

MAX_CHARACTERS = 2_000_000
"""... and at most this many characters in all (a pre-tokenised sentence's tokens counted
one more each, as if spaced): 10,000 sentences of 250 one-letter tokens took 1 GB and
half a minute."""

KINDS = ("forecaster", "classifier", "tagger")


def model_kind(directory: str | Path) -> str:
    """The kind of the model saved in ``directory`` (``"forecaster"``, ``"classifier"`` or
    ``"tagger"``), read from its ``meta.json``."""
    from lstmkit.saving import not_saved

    directory = path_arg("directory", directory)
    meta_path = directory / "meta.json"
    if not meta_path.is_file():  # (no folder, a file, or a run's folder: said which)
        raise not_saved(directory, "model")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{str(meta_path)!r} is not JSON: {err}") from None
    kind = meta.get("kind", "forecaster") if isinstance(meta, dict) else None
    if kind not in KINDS:  # (forecasters saved before models named their kind have none)
        raise ValueError(f"{str(meta_path)!r} names kind {kind!r}; lstmkit serves "
                         f"{list(KINDS)}")
    return kind


def load_saved(directory: str | Path) -> tuple[str, Any]:
    """The kind (:func:`model_kind`) and the loaded model saved in ``directory``: a
    :class:`~lstmkit.forecasting.Forecaster`, :class:`~lstmkit.classification.Classifier` or
    :class:`~lstmkit.tagging.Tagger`."""
    kind = model_kind(directory)
    if kind == "forecaster":
        from lstmkit.forecasting import Forecaster

        return kind, Forecaster.load(directory)
    if kind == "classifier":
        from lstmkit.classification import Classifier

        return kind, Classifier.load(directory)
    from lstmkit.tagging import Tagger

    return kind, Tagger.load(directory)


class ModelService:
    """A saved model and the answers to requests for it, without HTTP: :meth:`info` and
    :meth:`predict` (a JSON-like request to a JSON-like answer; a bad request is a
    ValueError or TypeError)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = path_arg("directory", directory)
        self.kind, self.model = load_saved(self.directory)
        self._lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        """What ``GET /health`` answers."""
        from lstmkit import __version__

        info: dict[str, Any] = {"status": "ok", "kind": self.kind,
                                "model": str(self.directory), "lstmkit_version": __version__}
        if self.kind == "classifier":
            info["labels"] = self.model.label_names
            info["request"] = {"texts": ["a text", "..."]}
        elif self.kind == "tagger":
            info["entity_types"] = sorted(self.model.entity_types)
            info["request"] = {"texts": ["a text", "..."]}
            info["request_tokens"] = {"tokens": [["a", "text"], ["..."]]}  # pre-tokenised
        else:
            from lstmkit.forecasting.data import plain_bounds

            data, model = self.model.config.data, self.model.config.model
            def rows(*numbers: tuple[str, ...]) -> list[Any]:
                """Two rows of the model's own columns, placeholders for the values."""
                row = {**({} if data.time_col is None else {data.time_col: "<time>"}),
                       **({} if data.series_col is None else {data.series_col: "<series id>"}),
                       **{c: "<number>" for group in numbers for c in group}}
                return [row, "..."]

            info.update(
                horizon=model.horizon, lookback=model.lookback, time_col=data.time_col,
                series_col=data.series_col, target=list(data.target),
                past_covariates=list(data.past_covariates),
                future_covariates=list(data.future_covariates),
                static_covariates=list(data.static_covariates),
                # what a client needs to build rows on the model's grid and read the answer
                freq=self.model.freq, time_format=data.time_format, fill=data.fill,
                short_series=data.short_series,
                quantiles=list(model.quantiles) if model.loss == "quantile" else None,
                target_bounds=plain_bounds(data),
                max_steps=self._max_steps(), max_windows=MAX_WINDOWS,
                request={"data": rows(data.target, data.past_covariates,
                                      data.future_covariates, data.static_covariates),
                         **({"future": rows(data.future_covariates)}
                            if data.future_covariates else {})})
        return info

    def _max_steps(self) -> int:
        """The most steps a forecast request may ask for: :data:`MAX_HORIZONS` horizons, or
        one for a model with past-only covariates (it forecasts no further)."""
        config = self.model.config
        return config.model.horizon * (1 if config.data.past_covariates else MAX_HORIZONS)

    def predict(self, request: Any) -> dict[str, Any]:
        """The answer to ``POST /predict`` with the decoded JSON ``request``."""
        if not isinstance(request, dict):
            raise TypeError(f"the request must be a JSON object, got "
                            f"{_given(request)}")
        with self._lock:
            if self.kind == "forecaster":
                return self._forecast(request)
            if self.kind == "classifier":
                return self._classify(request)
            return self._tag(request)

    def _classify(self, request: dict[str, Any]) -> dict[str, Any]:
        texts = _texts(request, allowed=("texts",))
        return {"predictions": [
            {"text": p.text, "label": p.label, "probabilities": p.probabilities}
            for p in self.model.predict(texts)]}

    def _tag(self, request: dict[str, Any]) -> dict[str, Any]:
        if not request:
            raise ValueError("a tagger request holds 'texts' (raw texts) or 'tokens' "
                             "(pre-tokenised sentences), got keys []")
        if "tokens" in request and "texts" in request:
            raise ValueError("a tagger request holds 'texts' (raw texts) or 'tokens' "
                             "(pre-tokenised sentences), not both: send them apart")
        if "tokens" in request:
            sentences = _list_of(request, "tokens", list, allowed=("tokens",),
                                 most=MAX_TEXTS)
            for n, sentence in enumerate(sentences):
                for m, token in enumerate(sentence):  # (as texts are checked: JSON's words)
                    if not isinstance(token, str):
                        raise TypeError(f"tokens[{n}][{m}] must be a string, got "
                                        f"{_given(token)}")
                    _check_unicode(token, f"tokens[{n}][{m}]")
            _check_characters("tokens", sum(len(t) + 1 for s in sentences for t in s),
                              " (a token counted one more, as if spaced)")
            try:
                tagged = self.model.tag_tokens(sentences)
            except (ValueError, TypeError) as err:  # named as the request names them
                raise _plain(err, str(err).replace("sentences[", "tokens[")) from None
            return {"predictions": [{"tokens": tokens, "tags": tags}
                                    for tokens, tags in zip(sentences, tagged, strict=True)]}
        texts = _texts(request, allowed=("texts", "tokens"))
        return {"predictions": [
            {"text": text, "entities": [asdict(e) for e in entities]}
            for text, entities in zip(texts, self.model.predict(texts), strict=True)]}

    def _forecast(self, request: dict[str, Any]) -> dict[str, Any]:
        import pandas as pd

        from lstmkit.forecasting.data import collect
        from lstmkit.nn.config import shown

        rows = _rows(request, "data")
        future_rows = None if request.get("future") is None else _rows(request, "future")
        series_col = self.model.config.data.series_col
        for key, table in (("data", rows), ("future", future_rows or [])):
            for n, row in enumerate(table):  # (pandas would read a true beside 1.5 as 1.0)
                if isinstance(row.get(series_col), bool):
                    raise TypeError(f"{key}[{n}][{series_col!r}], the series id, must be a "
                                    f"string or a number, got {_given(row[series_col])}")
        steps = request.get("steps")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)):
            raise TypeError(f"'steps' must be a whole number, got {_given(steps)}")
        if steps is not None and not 1 <= steps <= self._max_steps():
            horizon = self.model.config.model.horizon
            why = (f"{MAX_HORIZONS} horizons of {horizon}" if self._max_steps() > horizon else
                   f"the horizon: the model reads past-only covariates "
                   f"{list(self.model.config.data.past_covariates)}, unknown after the data")
            raise ValueError(f"'steps' must be from 1 to {self._max_steps()} ({why}), got "
                             f"{shown(steps, format)}")
        paths = request.get("paths")
        if paths is not None and (isinstance(paths, bool) or not isinstance(paths, int)):
            raise TypeError(f"'paths' must be a whole number, got {_given(paths)}")
        if paths is not None and not 0 <= paths <= MAX_PATHS:
            raise ValueError(f"'paths' must be from 0 to {MAX_PATHS}, got {shown(paths, format)}")
        self._check_work(rows, steps, paths)
        future = None if future_rows is None else pd.DataFrame.from_records(future_rows)
        # what predict warns of (a series left out as too short, future rows not used) is
        # the client's to read too, not only the server's log's (where warnings go)
        try:
            with collect() as said:
                forecast = self.model.predict(pd.DataFrame.from_records(rows), future=future,
                                              steps=steps, paths=paths)
        except (ValueError, TypeError) as err:  # future named as the request names it
            raise _plain(err, _request_names(str(err))) from None
        said = [_request_names(text) for text in said]
        for column in forecast.columns:  # times in ISO 8601, to the nanosecond
            if pd.api.types.is_datetime64_any_dtype(forecast[column]):
                forecast[column] = forecast[column].map(
                    lambda t: None if pd.isna(t) else t.isoformat())
        # (to_dict gives Python numbers, at full precision; a missing value is null)
        return {"forecast": forecast.astype(object).where(forecast.notna(), None).to_dict(
            orient="records"), **({"warnings": said} if said else {})}


    def _check_work(self, rows: list[dict[str, Any]], steps: int | None,
                    paths: int | None) -> None:
        """Refuse a forecast request that would cost the network more than
        :data:`MAX_WINDOWS` windows: one per series and horizon, and one per path past the
        first horizon when a quantile model samples paths; each window once per network of an
        ensemble."""
        from lstmkit.forecasting.forecaster import PATHS

        config = self.model.config
        horizon = config.model.horizon
        ids = {repr(row.get(config.data.series_col)) for row in rows
               } if config.data.series_col is not None else {None}
        horizons = -(-(steps or horizon) // horizon)
        sampled = (horizons > 1 and config.model.loss == "quantile"
                   and len(config.model.quantiles) > 1)
        per_path = PATHS if paths is None else paths
        networks = config.model.ensemble
        windows = len(ids) * (1 + (horizons - 1) * (per_path if sampled and per_path else 1)
                              ) * networks
        if windows > MAX_WINDOWS:
            how = f"{len(ids)} series x {horizons} horizons" + (
                f", {per_path} paths each past the first" if sampled and per_path else "") + (
                f", each window run by the ensemble's {networks} networks" if networks > 1
                else "")
            raise ValueError(f"the request asks for {windows} forecast windows ({how}), more "
                             f"than the {MAX_WINDOWS} a request may cost: send fewer series "
                             "a request" + (", fewer 'steps' or fewer 'paths' ('paths': 0 "
                                            "forecasts past the horizon from the median)"
                                            if sampled and per_path else " or fewer 'steps'"))


def _request_names(message: str) -> str:
    """``message`` of predict's, naming its ``future`` table and ``paths`` as the request
    does."""
    for python, request_key in _FUTURE_NAMES:
        message = message.replace(python, request_key)
    return message


def _texts(request: dict[str, Any], allowed: tuple[str, ...]) -> list[str]:
    """The request's ``texts``: checked, at most :data:`MAX_TEXTS` of them and
    :data:`MAX_CHARACTERS` characters, the request holding no key but ``allowed``."""
    texts = _list_of(request, "texts", str, allowed=allowed, most=MAX_TEXTS)
    _check_characters("texts", sum(map(len, texts)))
    return texts


def _check_characters(key: str, count: int, how: str = "") -> None:
    """Refuse a request whose ``key`` holds more than :data:`MAX_CHARACTERS` characters
    (counted ``how``)."""
    if count > MAX_CHARACTERS:
        raise ValueError(f"{key!r} holds {count} characters{how}, more than the "
                         f"{MAX_CHARACTERS} a request may hold: send them in several requests")


def _plain(err: Exception, message: str) -> Exception:
    """``err`` reworded as ``message``: a TypeError or a ValueError (a subclass's constructor
    may take other arguments: UnicodeDecodeError's five)."""
    return (TypeError if isinstance(err, TypeError) else ValueError)(message)


_ROUTES = {"/health": "GET", "/": "GET", "/predict": "POST"}
"""This server's paths and the method each takes (HEAD too where it is GET)."""

CUT_GRACE = 1.0
"""Seconds a stop waits for the threads of the connections it cut to end."""

_FUTURE_NAMES = (("future=<table> (--future <csv>)", "'future' rows"),
                 ("future= (--future)", "'future'"), ("(future=, --future)", "('future')"),
                 ("paths (--paths)", "'paths'"), ("steps (--steps)", "'steps'"))
"""How :meth:`~lstmkit.forecasting.Forecaster.predict`'s errors name its ``future`` table,
``paths`` and ``steps`` (Python's and the command line's names), and the request's names for
them."""


def _json_type(value: Any) -> str:
    """``value``'s type as JSON names it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    names = {str: "a string", list: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _given(value: Any) -> str:
    """``value`` as an error names it: its JSON type, with a string's, number's or
    boolean's value (cut at 40 characters)."""
    if value is None or isinstance(value, list | dict):
        return _json_type(value)
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return f"{_json_type(value)} ({_cut(text)})"


def _cut(text: str) -> str:
    """``text`` as a message shows it: cut at 40 characters."""
    return text if len(text) <= 40 else text[:37] + "..."


def _rows(request: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``request[key]``: rows, each an object of column -> a JSON string, number, boolean or
    null."""
    rows = _list_of(request, key, dict, allowed=("data", "future", "steps", "paths"))
    for n, row in enumerate(rows):
        if not row:
            raise ValueError(f"{key}[{n}] is an empty object: a row gives its value of each "
                             "column")
        for column, value in row.items():
            _check_unicode(column, f"a column name in {key}[{n}]")
            if isinstance(value, str):
                _check_unicode(value, f"{key}[{n}][{column!r}]")
            if isinstance(value, list | dict):
                raise TypeError(f"{key}[{n}][{column!r}] must be a string, a number, a boolean "
                                f"or null, got {_given(value)}")
    return rows


def _list_of(request: dict[str, Any], key: str, item: type, *,
             allowed: tuple[str, ...], most: int | None = None) -> list[Any]:
    """``request[key]``, checked to be a non-empty array of ``item`` (str, list, dict), of
    ``most`` items or fewer, and ``request`` to hold no key but ``allowed``."""
    unknown = sorted(set(request) - set(allowed))
    if unknown:
        raise ValueError(f"unknown request key(s) {unknown}; this model takes "
                         f"{sorted(allowed)}")
    if key not in request:
        raise ValueError(f"the request must hold {key!r}, got keys {sorted(request)}")
    value = request[key]
    what = {str: "a string", list: "an array", dict: "an object (a row)"}[item]
    if not isinstance(value, list) or not value:
        raise TypeError(f"{key!r} must be a non-empty array, each item {what}, got "
                        f"{'an empty array' if value == [] else _given(value)}")
    if most is not None and len(value) > most:
        raise ValueError(f"{key!r} holds {len(value)} items, more than the {most} a request "
                         "may hold: send them in several requests")
    for n, part in enumerate(value):
        if not isinstance(part, item):
            raise TypeError(f"{key}[{n}] must be {what}, got {_given(part)}")
        if isinstance(part, str):
            _check_unicode(part, f"{key}[{n}]")
    return value


def _check_unicode(text: str, where: str) -> None:
    """Refuses ``text`` (named ``where``) if it holds a lone surrogate (``"\\ud800"``, which
    JSON's escapes can spell but no Unicode text holds)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"{where} must be Unicode text, got a lone surrogate "
                         f"{text[err.start]!a} at character {err.start}") from None


class _Handler(BaseHTTPRequestHandler):
    service: ModelService  # set on the subclass make_server builds
    server: _Server
    server_version = "lstmkit"
    protocol_version = "HTTP/1.1"
    timeout = 120  # seconds a client may stall mid-request before its connection is closed

    def _answer(self, status: HTTPStatus, body: dict[str, Any], allow: str | None = None
                ) -> None:
        try:
            data = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (ValueError, TypeError) as err:  # a bug: said to the client, and to the log
            traceback.print_exc()
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            data = json.dumps({"error": f"the answer cannot be written as JSON "
                                        f"({type(err).__name__}: {err})"}).encode("ascii")
        if self.server.stopping:
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if allow is not None:  # (a 405's: the methods the path takes)
            self.send_header("Allow", "GET, HEAD" if allow == "GET" else allow)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: HTTPStatus, message: str, allow: str | None = None) -> None:
        self._answer(status, {"error": message}, allow)

    def _wrong_method_or_path(self, path: str) -> None:
        """405 naming the method a path of this server takes (and in ``Allow``), or 404 for a
        path it does not have."""
        if path in _ROUTES:
            method = _ROUTES[path]
            what = "with a JSON body" if method == "POST" else "without a body"
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {method} {what}, not "
                        f"{self.command}", allow=method)
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no {self.path!r} here: GET /health, POST "
                        "/predict")

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """What http.server refuses itself (a malformed request line or header, an unknown
        method, ...) is answered in JSON too, and the connection closed."""
        status = HTTPStatus(code)
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        if self.request_version == "HTTP/0.9" and len(self.requestline.split()) != 2:
            # (a request line that is no HTTP/0.9 `GET /path` either: answered with a status
            # line and headers, which http.server leaves out before it read a version)
            self.request_version = self.protocol_version
        self._error(status, (message or status.phrase) + (f" ({explain})" if explain else ""))

    def parse_request(self) -> bool:
        return super().parse_request() and self._one_length()

    def _one_length(self) -> bool:
        """False, after a 400, for a request with more than one ``Content-Length`` (a proxy
        in front may read another one: request smuggling)."""
        lengths = self.headers.get_all("Content-Length", [])
        if len(lengths) > 1:
            self.send_error(HTTPStatus.BAD_REQUEST, f"the request has {len(lengths)} "
                            f"Content-Length headers ({', '.join(lengths)}); give one")
            return False
        return True

    def handle_one_request(self) -> None:
        """Waits for the next request as an idle connection, which stopping the server closes
        unless a request is already there (sent as the connection was accepted, say); a
        request that arrives is served to its end."""
        with self.server.lock:
            if self.server.stopping and not _pending(self.connection):
                self.close_connection = True
                return
            self.server.idle.add(self.connection)
        try:
            arrived = self.rfile.peek(1)  # type: ignore[attr-defined]
        except OSError as err:
            if isinstance(err, TimeoutError):
                self.log_error("Request timed out: %r", err)
            arrived = b""
        finally:
            with self.server.lock:
                self.server.idle.discard(self.connection)
        if not arrived:  # the client closed, or the stop did
            self.close_connection = True
            return
        super().handle_one_request()

    def _route(self) -> str:
        """The request's path, from an absolute URL too (``POST http://host/predict``, which
        HTTP/1.1 servers take)."""
        try:
            url = urlsplit(self.path)
        except ValueError:  # (http://[/health: no path of this server, a 404)
            return self.path
        return (url.path or "/") if url.scheme else self.path.split("?")[0]

    def _length(self) -> int | None:
        """The body's size from ``Content-Length``: 0 without one; None for a body that
        cannot be read to its end (``Transfer-Encoding``, or a length that is no number of
        bytes), after which the connection is closed."""
        length = self._length_given()
        if self.headers.get("Transfer-Encoding") is not None or (length is not None and not (
                length.isascii() and length.isdigit() and len(length) <= 18)):
            self.close_connection = True
            return None
        return 0 if length is None else int(length)

    def _bad_length(self) -> str:
        """What is wrong with a Content-Length that is no number of bytes."""
        return ("the request's Content-Length must be a number of bytes (digits, at most 18 "
                f"of them), got {_cut(str(self._length_given()))!r}")

    def _length_given(self) -> str | None:
        """``Content-Length``'s value, without the spaces or tabs a field's value may have
        around it (RFC 9110 5.5); None without one."""
        length = self.headers.get("Content-Length")
        return None if length is None else length.strip(" \t")

    def _body(self, size: int | None) -> bytes | None:
        """The request's body of ``size`` bytes (:meth:`_length`), read whole, so that the
        connection serves on whatever the answer; a body over :data:`MAX_BODY_BYTES` is read
        and dropped (up to :data:`DRAIN_LIMIT_BYTES`) and the connection closed after the
        answer. None where ``size`` is None."""
        if size is None:
            return None
        if size > MAX_BODY_BYTES:
            left = min(size, DRAIN_LIMIT_BYTES)
            while left > 0:
                chunk = self.rfile.read(min(2**20, left))
                if not chunk:
                    break
                left -= len(chunk)
            self.close_connection = True
            return b""
        return self.rfile.read(size)

    def handle_expect_100(self) -> bool:
        """A client asking whether to send a body over the limit is told 413 at once, not
        invited to send it."""
        if not self._one_length():
            return False
        size = self._length()
        if size is not None and size > MAX_BODY_BYTES:
            self.close_connection = True
            self._too_large(size)
            return False
        return super().handle_expect_100()

    def _too_large(self, size: int) -> None:
        self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"the request body has {size} bytes, more than the {MAX_BODY_BYTES} "
                    "served; send fewer items a request")

    def do_GET(self) -> None:
        body = self._body(self._length())  # (a GET's body too, so the connection serves on)
        path = self._route()
        if _ROUTES.get(path) != "GET":  # (the path first, as for a POST)
            self._wrong_method_or_path(path)
        elif body is None and self.headers.get("Transfer-Encoding") is None:
            self._error(HTTPStatus.BAD_REQUEST, self._bad_length())
        elif body is None:
            self._error(HTTPStatus.BAD_REQUEST, "the request's body cannot be read: give a "
                        "Content-Length (a number of bytes), not a Transfer-Encoding")
        else:
            self._answer(HTTPStatus.OK, self.service.info())

    def do_POST(self) -> None:
        size = self._length()
        body = self._body(size)  # read first, whatever the answer, so the connection serves on
        path = self._route()
        if _ROUTES.get(path) != "POST":
            self._wrong_method_or_path(path)
        elif (body is None and self.headers.get("Transfer-Encoding") is None
              and "Content-Length" in self.headers):
            self._error(HTTPStatus.BAD_REQUEST, self._bad_length())
        elif body is None or "Content-Length" not in self.headers:
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, "the request needs a Content-Length (a "
                        "number of bytes; a Transfer-Encoding is not served)")
        elif size is not None and size > MAX_BODY_BYTES:
            self._too_large(size)
        elif size is not None and len(body) < size:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, f"the request body has {len(body)} bytes, "
                        f"fewer than its Content-Length ({size})")
        else:
            self._predict(body)

    def _predict(self, body: bytes) -> None:
        # a byte order mark, which JSON's RFC 8259 lets a reader ignore, is ignored (dropped
        # first: the errors then count the body's bytes after it, and one holding only a mark
        # is empty)
        body = body.removeprefix(codecs.BOM_UTF8)
        try:
            request = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys,
                                 parse_constant=_no_constant)
        except _DuplicateKeyError as err:  # (valid JSON, but which value was meant?)
            self._error(HTTPStatus.BAD_REQUEST, f"the request body's JSON {err}")
            return
        except _ConstantError as err:
            self._error(HTTPStatus.BAD_REQUEST, f"the request body is not JSON: {err}")
            return
        except (ValueError, RecursionError) as err:  # (UnicodeDecodeError, JSONDecodeError)
            if not body.strip():
                why = "the body is empty" if not body else "the body is only white space"
            elif isinstance(err, RecursionError):
                why = "it nests too deeply"
            elif isinstance(err, UnicodeDecodeError | json.JSONDecodeError):
                why = str(err)
            else:  # a whole number longer than Python reads (sys.set_int_max_str_digits)
                why = f"a whole number has more than {sys.get_int_max_str_digits()} digits"
            self._error(HTTPStatus.BAD_REQUEST, f"the request body is not JSON: {why}")
            return
        try:
            answer = self.service.predict(request)
        except (ValueError, TypeError, KeyError) as err:
            self._error(HTTPStatus.BAD_REQUEST, str(err))
            return
        except Exception as err:  # a bug: said to the client, its traceback to the log
            traceback.print_exc()
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR,
                        f"the model failed on this request ({type(err).__name__}: {err})")
            return
        for text in answer.get("warnings", ()):  # (logged at every request, quiet or not)
            BaseHTTPRequestHandler.log_message(self, "warning: %s", text)
        self._answer(HTTPStatus.OK, answer)

    def _not_allowed(self) -> None:
        self._body(self._length())
        self._wrong_method_or_path(self._route())

    def do_HEAD(self) -> None:
        """GET's answer without its body (RFC 9110: a server that serves GET serves HEAD)."""
        self.do_GET()

    # (http.server's names)
    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = _not_allowed  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.quiet:
            return
        super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    """http.server's threading server that, closed, waits for its requests in flight up to
    ``stop_timeout`` seconds. Its threads are daemons: a program that ends without closing
    it does not wait for a connection."""

    request_queue_size = socket.SOMAXCONN  # (http.server's 5 resets clients that come at once)
    daemon_threads = True
    stop_timeout = 30.0

    def __init__(self, *args: Any, quiet: bool = False, **kwargs: Any) -> None:
        self.quiet = quiet
        self.lock = threading.Lock()
        self.stopping = False
        self.stop_requested = False  # by a signal (serve)
        self.idle: set[socket.socket] = set()  # connections waiting for their next request
        self.open: dict[threading.Thread, socket.socket] = {}  # each connection's thread
        self.cut = False  # whether the stop cut connections whose threads still run
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._connection, args=(request, client_address),
                                  daemon=True)
        with self.lock:
            self.open[thread] = request
        try:
            thread.start()
        except BaseException:  # (no thread to be had: socketserver answers for the request)
            with self.lock:
                self.open.pop(thread, None)
            raise

    def _connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.lock:
                self.open.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection its client (or the stop) closed under a handler is one log line (not
        ``quiet``), not a traceback; anything else is socketserver's traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            if not self.quiet:
                sys.stderr.write(f"{client_address[0]}: the connection closed before its "
                                 f"answer was sent ({type(error).__name__})\n")
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        """Stops: closes the listening socket and the idle connections, waits up to
        ``stop_timeout`` seconds for the requests in flight to be answered (their connections
        closed after), then cuts the connections left (a client still sending, say)."""
        with self.lock:
            self.stopping = True
            for connection in self.idle:
                if not _pending(connection):  # (a request that came is served)
                    with contextlib.suppress(OSError):  # (closed by its client already)
                        # the reading side alone: its thread wakes to an end of input, and
                        # one that has just read a request can still answer it
                        connection.shutdown(socket.SHUT_RD)
            threads = list(self.open)
        super().server_close()
        deadline = time.monotonic() + self.stop_timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self.lock:
            left = dict(self.open)
            for connection in left.values():
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + CUT_GRACE  # (one wait for them all)
        for thread in left:  # (one reading a request ends at once; one predicting does not)
            thread.join(max(0.0, deadline - time.monotonic()))
        self.cut = any(thread.is_alive() for thread in left)


def _pending(connection: socket.socket) -> bool:
    """Whether ``connection`` has bytes to read now (a request's, or its client's close);
    by the system's best selector (select.select fails past descriptor 1023)."""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(connection, selectors.EVENT_READ)
            return bool(selector.select(0))
    except (OSError, ValueError):  # (closed already)
        return False


def make_server(directory: str | Path, host: str = "127.0.0.1", port: int = 8000, *,
                quiet: bool = False) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving: call ``serve_forever()``) for the model saved in
    ``directory`` on ``host:port`` (port 0: any free port, then in ``server_address``);
    ``quiet`` leaves out the request log on stderr (not the ``warning:`` lines of a
    forecast's warnings). ``shutdown()`` stops its serving, then
    ``server_close()`` closes idle connections and waits for the requests in flight, up to
    ``server.stop_timeout`` seconds (30), before it cuts the connections left."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError(f"port (--port) must be an int in [0, 65535], got {port!r}")
    if not isinstance(host, str) or not host:
        raise (ValueError if isinstance(host, str) else TypeError)(
            f"host (--host) must be a non-empty str (an address or a name, such as "
            f"'127.0.0.1' or '0.0.0.0'), got {type(host).__name__} {host!r}")
    service = ModelService(directory)
    handler = type("Handler", (_Handler,), {"service": service})
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]
    # the family the host resolves to: an IPv6 address or a name with IPv6 addresses only
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
    except socket.gaierror as err:
        raise OSError(err.errno, f"host (--host) {host!r} is no address to listen on: "
                                 f"{err.strerror}") from None
    try:
        return (_Server6 if family == socket.AF_INET6 else _Server)((host, port), handler,
                                                                    quiet=quiet)
    except OSError as err:  # (a port in use, a privileged one, a host not of this machine)
        raise OSError(err.errno, f"cannot listen on host (--host) {host!r}, port (--port) "
                                 f"{port}: {err.strerror}") from None


class _Server6(_Server):
    """:class:`_Server` on IPv6; ``::`` takes IPv4 clients too, on every system."""

    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # (no dual stack here)
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def _stop_on_signals(server: ThreadingHTTPServer) -> dict[int, Any]:
    """Makes SIGTERM, and Ctrl-C (SIGINT) where Python's own handler takes it, stop
    ``server`` gracefully (``serve_forever`` returns between two connections; an exception
    raised in it, as Ctrl-C's KeyboardInterrupt, would close the connection it was handing to
    its thread); a second signal acts as it did before. Returns the handlers to restore."""
    previous = {signal.SIGTERM: signal.getsignal(signal.SIGTERM)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.default_int_handler

    def stop(signum: int, frame: Any) -> None:
        server.stop_requested = True  # type: ignore[attr-defined]  # (before a second can come)
        _restore(previous)
        # (shutdown waits for serve_forever to return, which runs on this thread)
        threading.Thread(target=server.shutdown).start()

    for signum in previous:
        signal.signal(signum, stop)
    return previous


def _restore(handlers: dict[int, Any]) -> None:
    for signum, handler in handlers.items():  # (None: a handler set outside Python)
        signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def serve(directory: str | Path, host: str = "127.0.0.1", port: int = 8000) -> bool:
    """Serve the model saved in ``directory`` until interrupted (Ctrl-C, or SIGTERM where
    called on the main thread), then let the requests in flight finish. Returns whether the
    stop cut requests still being predicted at ``stop_timeout``: their threads cannot be
    stopped, and a Python that exits while they run inside torch aborts (SIGABRT), so a
    program that gets True should end at once (``os._exit``) once its own work is saved, as
    ``lstmkit serve`` does."""
    server = make_server(directory, host, port)
    kind = server.RequestHandlerClass.service.kind  # type: ignore[attr-defined]
    name = server.server_address[0]
    address = f"http://{f'[{name}]' if ':' in name else name}:{server.server_address[1]}"
    print(f"serving the {kind} in {str(directory)!r} at {address}: GET /health, POST "
          "/predict (Ctrl-C stops)", flush=True)
    on_main = threading.current_thread() is threading.main_thread()
    previous = _stop_on_signals(server) if on_main else {}
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        if server.stop_requested:  # type: ignore[attr-defined]
            # a second Ctrl-C, before serve_forever saw the first: stop at once
            server.stop_timeout = 0  # type: ignore[attr-defined]
            raise
        # (the first, where Ctrl-C's handler is not Python's own): stop gracefully
    finally:
        _restore(previous)
        server.server_close()  # (waits for the requests in flight; a Ctrl-C cuts it short)
    print("stopped", flush=True)
    return bool(server.cut)  # type: ignore[attr-defined]


class _DuplicateKeyError(ValueError):
    """A JSON object of the request that gives a key twice."""


class _ConstantError(ValueError):
    """NaN, Infinity or -Infinity in the request, which Python's ``json`` reads and JSON
    (RFC 8259) does not have."""


def _no_constant(name: str) -> Any:
    """Refuse NaN, Infinity and -Infinity, which ``json`` would read as floats: a NaN target
    was taken as a missing value and filled by ``data.fill`` without a word."""
    raise _ConstantError(f"it holds {name}, which JSON (RFC 8259) has no token for; send "
                         "null for a missing value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict, refusing a key given twice (which ``json`` would
    otherwise read as its last value, dropping the first unseen)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(f"gives the key {key!r} twice in an object; give it "
                                     "once")
        out[key] = value
    return out
