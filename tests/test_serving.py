"""``lstmkit serve``: saved models answer JSON requests over HTTP."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstmkit.training import TrainConfig

ONE_EPOCH = TrainConfig(max_epochs=1, progress_bar=False, accelerator="cpu", devices=1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny saved model of each kind."""
    from lstmkit.classification import Classifier, ClassifierConfig, Example
    from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster, ModelConfig
    from lstmkit.tagging import Sentence, Tagger, TaggerConfig

    folder = tmp_path_factory.mktemp("models")
    examples = [Example(text, label) for text, label in
                [("a good film", "pos"), ("awful", "neg"), ("great", "pos"), ("bad", "neg")]]
    Classifier(ClassifierConfig(hidden_size=4, embedding_dim=4), ONE_EPOCH).fit(
        examples).save(folder / "classifier")
    sentences = [Sentence(["Alice", "visited", "Oslo"], ["B-PER", "O", "B-LOC"])] * 4
    Tagger(TaggerConfig(hidden_size=4, embedding_dim=4, char_hidden=4), ONE_EPOCH).fit(
        sentences).save(folder / "tagger")
    Forecaster(ForecastConfig(
        data=DataConfig(target=("y",), time_col="date", val=0.2, test=0.2),
        model=ModelConfig(lookback=12, horizon=3, segment_len=6, hidden_size=8),
        training=ONE_EPOCH, min_epoch_batches=0)).fit(_history(80)).save(folder / "forecaster")
    Forecaster(ForecastConfig(  # with a known-future covariate
        data=DataConfig(target=("y",), time_col="date", future_covariates=("x",), val=0.2,
                        test=0.2),
        model=ModelConfig(lookback=12, horizon=3, segment_len=6, hidden_size=8),
        training=ONE_EPOCH, min_epoch_batches=0)).fit(_history(80, future=True)).save(
            folder / "future")
    return {kind: folder / kind for kind in ("classifier", "tagger", "forecaster", "future")}


def _history(n: int, future: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=n, freq="D"),
                          "y": np.sin(np.arange(n) / 3.0)})
    return frame.assign(x=np.cos(np.arange(n) / 3.0)) if future else frame


@pytest.fixture
def url(saved: dict[str, Path], request: pytest.FixtureRequest) -> Iterator[str]:
    """The address of a server of the model of kind ``request.param``, on a free port."""
    from lstmkit.serving import make_server

    server = make_server(saved[request.param], port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _call(url: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(
        body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, data=data)) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize("url", ["classifier"], indirect=True)
def test_a_classifier_answers_over_http(url: str, saved: dict[str, Path]) -> None:
    from lstmkit.classification import Classifier

    status, info = _call(url, "/health")
    assert status == 200 and info["kind"] == "classifier" and info["labels"] == ["neg", "pos"]
    status, answer = _call(url, "/predict", {"texts": ["a good film", "awful"]})
    expected = Classifier.load(saved["classifier"]).predict(["a good film", "awful"])
    assert status == 200 and [p["label"] for p in answer["predictions"]] == [
        p.label for p in expected]
    assert answer["predictions"][1]["probabilities"] == pytest.approx(
        expected[1].probabilities)
    for body, code, message in [
            ({"texts": []}, 400, "'texts' must be a non-empty array, each item a string, got "
                                 "an empty array"),
            ({"texts": ["ok", 3]}, 400, "texts[1] must be a string, got a number (3)"),
            ({"texts": "a text"}, 400, "'texts' must be a non-empty array, each item a "
                                       "string, got a string ('a text')"),
            ({"text": ["x"]}, 400, "unknown request key(s) ['text']; this model takes "
                                   "['texts']"),
            ([1], 400, "the request must be a JSON object, got an array"),
            (b"{not json", 400, "the request body is not JSON")]:
        status, answer = _call(url, "/predict", body)
        assert status == code and answer["error"].startswith(message)
    assert _call(url, "/nothing") == (404, {"error": "no '/nothing' here: GET /health, POST "
                                                     "/predict"})
    assert _call(url, "/predict")[0] == 405  # a GET
    # a 405 names the method the path takes, also in Allow; another method on a path this
    # server does not have is a 404, as a GET of it is
    for method, path, status, allow, error in [
            ("PUT", "/predict", 405, "POST", "/predict takes POST with a JSON body, not PUT"),
            ("POST", "/health", 405, "GET, HEAD", "/health takes GET without a body, not POST"),
            ("PUT", "/nothing", 404, None, "no '/nothing' here: GET /health, POST /predict")]:
        request = urllib.request.Request(url + path, data=b"{}", method=method)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        assert refused.value.code == status and refused.value.headers["Allow"] == allow
        assert json.loads(refused.value.read()) == {"error": error}


@pytest.mark.parametrize("url", ["classifier", "tagger"], indirect=True)
def test_a_request_holds_at_most_max_texts_texts(url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # two million one-letter texts (10 MB) took 2 GB and half a minute, the model held
    import lstmkit.serving.http as http

    monkeypatch.setattr(http, "MAX_TEXTS", 3)
    bodies = [{"texts": ["a"] * 3}, {"texts": ["a"] * 4}]
    if _call(url, "/health")[1]["kind"] == "tagger":  # (and its pre-tokenised sentences)
        bodies += [{"tokens": [["a"]] * 3}, {"tokens": [["a"]] * 4}]
    for fits, refused in zip(bodies[::2], bodies[1::2], strict=True):
        key = next(iter(refused))
        assert _call(url, "/predict", fits)[0] == 200
        assert _call(url, "/predict", refused) == (400, {"error": (
            f"'{key}' holds 4 items, more than the 3 a request may hold: send them in "
            "several requests")})
    monkeypatch.setattr(http, "MAX_CHARACTERS", 7)  # (a token counts one more)
    bodies = [{"texts": ["abc", "d"]}, {"texts": ["abc", "defgh"]}]
    if _call(url, "/health")[1]["kind"] == "tagger":
        bodies += [{"tokens": [["ab", "c"], ["d"]]}, {"tokens": [["ab", "c"], ["de"]]}]
    for fits, refused in zip(bodies[::2], bodies[1::2], strict=True):
        key = next(iter(refused))
        assert _call(url, "/predict", fits)[0] == 200
        counted = " (a token counted one more, as if spaced)" if key == "tokens" else ""
        assert _call(url, "/predict", refused) == (400, {"error": (
            f"'{key}' holds 8 characters{counted}, more than the 7 a request may hold: send "
            "them in several requests")})


@pytest.mark.parametrize("url", ["tagger"], indirect=True)
def test_a_tagger_answers_texts_and_tokens(url: str, saved: dict[str, Path]) -> None:
    from lstmkit.tagging import Tagger

    tagger = Tagger.load(saved["tagger"])
    info = _call(url, "/health")[1]
    assert info["entity_types"] == ["LOC", "PER"]
    for example in (info["request"], info["request_tokens"]):  # each a request as it is
        assert _call(url, "/predict", example)[0] == 200
    status, answer = _call(url, "/predict", {"texts": ["Alice visited Oslo", ""]})
    entities = tagger.predict(["Alice visited Oslo"])[0]
    assert status == 200 and answer["predictions"][1] == {"text": "", "entities": []}
    assert [(e["type"], e["start"], e["end"]) for e in answer["predictions"][0]["entities"]] \
        == [(e.type, e.start, e.end) for e in entities]
    status, answer = _call(url, "/predict", {"tokens": [["Alice", "visited"], ["Oslo"]]})
    assert status == 200 and [p["tags"] for p in answer["predictions"]] == tagger.tag_tokens(
        [["Alice", "visited"], ["Oslo"]])
    # both forms at once: "unknown request key(s) ['texts']; this model takes ['tokens']"
    assert _call(url, "/predict", {"texts": ["Alice"], "tokens": [["Alice"]]}) == (400, {
        "error": "a tagger request holds 'texts' (raw texts) or 'tokens' (pre-tokenised "
                 "sentences), not both: send them apart"})
    # in JSON's words, as texts are (Python's "must be a str token, got int (1)")
    for tokens, message in [([["Alice", 1]], "tokens[0][1] must be a string, got a number (1)"),
                            ([["Alice"], [None]], "tokens[1][0] must be a string, got null"),
                            ([[]], "tokens[0] must hold at least one token, got an empty "
                                   "sentence")]:
        status, answer = _call(url, "/predict", {"tokens": tokens})
        assert status == 400 and answer["error"] == message


@pytest.mark.parametrize("url", ["forecaster"], indirect=True)
def test_a_forecaster_answers_rows(url: str, saved: dict[str, Path]) -> None:
    from lstmkit.forecasting import Forecaster

    info = _call(url, "/health")[1]
    assert (info["horizon"], info["lookback"], info["target"]) == (3, 12, ["y"])
    # what a client needs to build rows on the model's grid (off-grid rows are refused)
    model = Forecaster.load(saved["forecaster"])
    assert model.freq is not None
    assert (info["freq"], info["fill"], info["time_format"]) == (model.freq, "none", None)
    assert info["quantiles"] == (list(model.config.model.quantiles)
                                 if model.config.model.loss == "quantile" else None)
    assert info["target_bounds"] is None
    history = _history(30)
    rows = json.loads(history.to_json(orient="records", date_format="iso"))
    status, answer = _call(url, "/predict", {"data": rows})
    expected = Forecaster.load(saved["forecaster"]).predict(history)
    assert status == 200 and len(answer["forecast"]) == 3
    # at full precision: the same numbers as the Python API's
    assert [row["forecast"] for row in answer["forecast"]] == expected["forecast"].tolist()
    assert pd.Timestamp(answer["forecast"][0]["date"]) == pd.Timestamp("2021-01-31")
    # steps: the horizon's first ones, or more, forecast recursively (at most 10 horizons)
    assert info["max_steps"] == 30
    status, answer = _call(url, "/predict", {"data": rows, "steps": 7})
    expected = Forecaster.load(saved["forecaster"]).predict(history, steps=7)
    assert status == 200 and [row["forecast"] for row in answer["forecast"]] == expected[
        "forecast"].tolist() and len(expected) == 7
    for steps, message in [(31, "'steps' must be from 1 to 30 (10 horizons of 3), got 31"),
                           (0, "'steps' must be from 1 to 30 (10 horizons of 3), got 0"),
                           ("7", "'steps' must be a whole number, got a string ('7')"),
                           (7.0, "'steps' must be a whole number, got a number (7.0)"),
                           (True, "'steps' must be a whole number, got a boolean (true)"),
                           ([7], "'steps' must be a whole number, got an array")]:
        assert _call(url, "/predict", {"data": rows, "steps": steps}) == (
            400, {"error": message})
    # paths: predict's, checked here, and named as the request names them (a point loss)
    for paths, message in [(2001, "'paths' must be from 0 to 2000, got 2001"),
                           (-1, "'paths' must be from 0 to 2000, got -1"),
                           ("9", "'paths' must be a whole number, got a string ('9')")]:
        assert _call(url, "/predict", {"data": rows, "steps": 7, "paths": paths}) == (
            400, {"error": message})
    status, answer = _call(url, "/predict", {"data": rows, "steps": 7, "paths": 9})
    assert status == 400 and answer["error"].startswith(
        "'paths' sample a quantile forecast past the horizon, but the model's loss is 'mse'")
    status, answer = _call(url, "/predict", {"data": rows[:5]})
    assert status == 400 and "fewer than lookback (12)" in answer["error"]
    status, answer = _call(url, "/predict", {"data": rows, "future": rows[:3]})
    assert status == 400 and answer["error"].startswith(
        "'future' was given, but the model has no data.future_covariates")
    assert answer["error"].endswith("leave 'future' out")
    rows[2]["y"] = {"value": 1}
    assert _call(url, "/predict", {"data": rows}) == (400, {
        "error": "data[2]['y'] must be a string, a number, a boolean or null, got an object"})


@pytest.mark.parametrize("url", ["forecaster"], indirect=True)
def test_a_whole_number_is_read_as_the_float_it_is_and_one_past_float64_is_a_400(
        url: str, saved: dict[str, Path]) -> None:
    # 10**400 was a 500 "the model failed on this request (OverflowError: int too large to
    # convert to float)"; 2**64 a 400 "must be numeric, got dtype object", where 1.8e19 is read
    from lstmkit.forecasting import Forecaster
    from lstmkit.serving import ModelService

    history = _history(30)
    rows = json.loads(history.to_json(orient="records", date_format="iso"))
    for big in (10**400, -10**400):
        rows[25]["y"] = big
        assert _call(url, "/predict", {"data": rows}) == (400, {
            "error": "1 infinite value(s) in column 'y' of the series, first at 2021-01-26 "
                     "00:00:00 (inf, or a number too large in magnitude for a float64, past "
                     "1.8e308: 1e400, an int of 309 digits or more); data.fill does not "
                     "replace them: fix or drop them"})
    rows[25]["y"] = 2**64
    status, answer = _call(url, "/predict", {"data": rows})
    history.loc[25, "y"] = 1.8446744073709552e19  # the Python API's forecast of the float
    expected = Forecaster.load(saved["forecaster"]).predict(history)["forecast"].tolist()
    assert status == 200 and [row["forecast"] for row in answer["forecast"]] == expected
    rows[25]["y"] = 1.0
    for key, most in (("steps", "1 to 30 (10 horizons of 3)"), ("paths", "0 to 2000")):
        assert _call(url, "/predict", {"data": rows, key: 10**400}) == (400, {
            "error": f"'{key}' must be from {most}, got an int of 401 digits"})  # (not whole)
    # a known-future covariate's future rows, and the future table named as the request does
    service = ModelService(saved["future"])
    rows = json.loads(_history(33, future=True).to_json(orient="records", date_format="iso"))
    rows[31]["x"] = 10**400
    with pytest.raises(ValueError, match=r"^1 infinite value\(s\) in column 'x' of the series "
                                         r"of the future table \('future'\), first at "
                                         r"2021-02-01 00:00:00 \(inf, or a number too large"):
        service.predict({"data": rows[:30], "future": rows[30:]})
    rows[31]["x"] = 2**64
    assert len(service.predict({"data": rows[:30], "future": rows[30:]})["forecast"]) == 3


def test_a_forecaster_with_future_covariates_names_future_as_the_request_does(
        saved: dict[str, Path]) -> None:
    # /health's request example held data alone, and the request needs future too
    from lstmkit.serving import ModelService

    service = ModelService(saved["future"])
    example = service.info()["request"]
    # (in the model's own columns: it held {"<column>": "<value>"})
    assert example == {"data": [{"date": "<time>", "y": "<number>", "x": "<number>"}, "..."],
                       "future": [{"date": "<time>", "x": "<number>"}, "..."]}
    assert set(ModelService(saved["forecaster"]).info()["request"]) == {"data"}
    rows = json.loads(_history(33, future=True).to_json(orient="records", date_format="iso"))
    assert len(service.predict({"data": rows[:30], "future": rows[30:]})["forecast"]) == 3
    # errors name the request's "future", not future= (--future)
    with pytest.raises(ValueError, match=r"^future covariates \['x'\] must cover the 3 steps "
                                         r"after the data: pass 'future' rows$"):
        service.predict({"data": rows[:30]})
    with pytest.raises(ValueError, match=r"^the future table \('future'\) covers 2 of the 3 "):
        service.predict({"data": rows[:30], "future": rows[30:32]})


def test_a_forecaster_with_past_covariates_serves_at_most_its_horizon(tmp_path: Path) -> None:
    # /health said 10 horizons, which its predict refused past the first
    from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster, ModelConfig
    from lstmkit.serving import ModelService

    history = _history(80).assign(x=np.cos(np.arange(80) / 3.0))
    Forecaster(ForecastConfig(
        data=DataConfig(target=("y",), time_col="date", past_covariates=("x",), val=0.2,
                        test=0.2),
        model=ModelConfig(lookback=12, horizon=3, segment_len=6, hidden_size=8),
        training=ONE_EPOCH, min_epoch_batches=0)).fit(history).save(tmp_path / "m")
    service = ModelService(tmp_path / "m")
    assert service.info()["max_steps"] == 3
    rows = json.loads(history.to_json(orient="records", date_format="iso"))
    assert len(service.predict({"data": rows, "steps": 3})["forecast"]) == 3
    with pytest.raises(ValueError, match=r"^'steps' must be from 1 to 3 \(the horizon: the "
                                         r"model reads past-only covariates \['x'\], unknown "
                                         r"after the data\), got 4$"):
        service.predict({"data": rows, "steps": 4})


def test_a_boolean_series_id_is_refused(tmp_path: Path) -> None:
    # pandas read a true beside an id of 1.5 as 1.0: another series' id, without a word
    from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster, ModelConfig
    from lstmkit.serving import ModelService

    history = pd.concat([_history(60).assign(shop=name) for name in ("1.5", "a")])
    Forecaster(ForecastConfig(
        data=DataConfig(target=("y",), time_col="date", series_col="shop", val=0.2,
                        test=0.2),
        model=ModelConfig(lookback=12, horizon=3, segment_len=6, hidden_size=8),
        training=ONE_EPOCH, min_epoch_batches=0)).fit(history).save(tmp_path / "m")
    service = ModelService(tmp_path / "m")
    rows = json.loads(history.to_json(orient="records", date_format="iso"))
    for row in rows:
        row["shop"] = 1.5 if row["shop"] == "1.5" else True
    with pytest.raises(TypeError, match=r"^data\[60\]\['shop'\], the series id, must be a "
                                        r"string or a number, got a boolean \(true\)$"):
        service.predict({"data": rows})
    for row in rows:
        row["shop"] = 1.5 if row["shop"] == 1.5 else "a"
    assert {r["shop"] for r in service.predict({"data": rows})["forecast"]} == {1.5, "a"}


def test_a_forecast_request_is_checked_before_its_work_and_its_cost_is_bounded(
        saved: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lstmkit.serving.http as serving
    from lstmkit.forecasting import DataConfig, ForecastConfig, Forecaster, ModelConfig
    from lstmkit.serving import ModelService

    service = ModelService(saved["future"])
    assert service.info()["max_windows"] == serving.MAX_WINDOWS
    rows = json.loads(_history(20, future=True).to_json(orient="records", date_format="iso"))
    for future, given in ((5, "a number (5)"), (True, "a boolean (true)")):
        # (it was "'int' object is not iterable", naming no key)
        with pytest.raises(TypeError, match=rf"^'future' must be a non-empty array, each item "
                                            rf"an object \(a row\), got {re.escape(given)}$"):
            service.predict({"data": rows, "future": future})
    with pytest.raises(ValueError, match=r"^data\[1\] is an empty object: a row gives its "
                                         r"value of each column$"):
        service.predict({"data": [rows[0], {}]})  # (it was "the data is empty: no rows")
    # a quantile model's steps past the horizon cost a window per path: bounded per request
    history = pd.concat([_history(40).assign(shop=name) for name in "abcd"])
    Forecaster(ForecastConfig(
        data=DataConfig(target=("y",), time_col="date", series_col="shop", val=0.2,
                        test=0.2),
        model=ModelConfig(lookback=12, horizon=3, segment_len=6, hidden_size=8,
                          loss="quantile", quantiles=(0.1, 0.5, 0.9)),
        training=ONE_EPOCH, min_epoch_batches=0)).fit(history).save(tmp_path / "q")
    service = ModelService(tmp_path / "q")
    rows = json.loads(history.to_json(orient="records", date_format="iso"))
    monkeypatch.setattr(serving, "MAX_WINDOWS", 100)
    with pytest.raises(ValueError, match=r"^the request asks for 164 forecast windows \(4 "
                                         r"series x 5 horizons, 10 paths each past the first\),"
                                         r" more than the 100 a request may cost: send fewer "
                                         r"series a request, fewer 'steps' or fewer 'paths' "):
        service.predict({"data": rows, "steps": 15, "paths": 10})
    with pytest.raises(ValueError, match=r"asks for 8004 forecast windows \(4 series x 2 "
                                         r"horizons, 2000 paths each"):
        service.predict({"data": rows, "steps": 4, "paths": 2000})
    assert len(service.predict({"data": rows, "steps": 15, "paths": 0})["forecast"]) == 60
    assert len(service.predict({"data": rows, "steps": 6, "paths": 8})["forecast"]) == 24
    # paths within the horizon would change nothing: refused, as the command line refuses them
    for steps in ({}, {"steps": 3}):
        with pytest.raises(ValueError, match=r"^'paths' sample the forecast past the model's "
                                             r"horizon \(3 steps\), and (no 'steps' were given|"
                                             r"'steps' 3 are within it): they apply with steps "
                                             r"above 3; leave them out"):
            service.predict({"data": rows, "paths": 8, **steps})
    # an ensemble runs each window once per network
    import dataclasses

    config = service.model.config
    service.model.config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, ensemble=3))
    with pytest.raises(ValueError, match=r"asks for 108 forecast windows \(4 series x 2 "
                                         r"horizons, 8 paths each past the first, each window "
                                         r"run by the ensemble's 3 networks\)"):
        service.predict({"data": rows, "steps": 6, "paths": 8})


@pytest.mark.parametrize("url", ["tagger"], indirect=True)
def test_an_empty_tagger_request_names_both_keys(url: str) -> None:
    status, answer = _call(url, "/predict", {})
    assert status == 400 and answer["error"] == (
        "a tagger request holds 'texts' (raw texts) or 'tokens' (pre-tokenised sentences), "
        "got keys []")


@pytest.mark.parametrize("url", ["classifier"], indirect=True)
def test_the_connection_serves_on_after_an_error_and_bad_bodies_are_answered(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import http.client

    import lstmkit.serving.http as serving

    port = int(url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"texts": ["fine"]})
    for method, path, status in [("POST", "/nothing", 404), ("PUT", "/predict", 405),
                                 ("POST", "/predict", 200)]:
        # one connection: an answered error left the body unread, and the next request
        # read it as its own start
        connection.request(method, path, body=body)
        answer = connection.getresponse()
        assert (answer.status, "error" in json.loads(answer.read())) == (status, status != 200)
    connection.close()
    for raw, message in [(b"[" * 100_000, "the request body is not JSON: it nests too deeply"),
                         (b'{"texts": ["fine"]', "the request body is not JSON"),
                         # (Python's limit: a traceback in the log, and no answer)
                         (b'{"texts": ["fine"], "n": ' + b"1" * 5000 + b"}",
                          "the request body is not JSON: a whole number has more than 4300 "
                          "digits"),
                         # (they read "Expecting value: line 1 column 1 (char 0)")
                         (b"", "the request body is not JSON: the body is empty"),
                         (b" \n", "the request body is not JSON: the body is only white "
                                  "space"),
                         # (json reads the last value: the first would be dropped unseen)
                         (b'{"texts": ["a"], "texts": ["b"]}', "the request body's JSON gives "
                          "the key 'texts' twice in an object; give it once"),
                         # (json reads them as floats: a forecaster's NaN target was filled)
                         *[(b'{"texts": ["a"], "n": ' + name + b"}", "the request body is not "
                            f"JSON: it holds {name.decode()}, which JSON (RFC 8259) has no "
                            "token for; send null for a missing value")
                           for name in (b"NaN", b"Infinity", b"-Infinity")]]:
        status, answer = _call(url, "/predict", raw)
        assert status == 400 and answer["error"].startswith(message), answer
    # a byte order mark, which RFC 8259 lets a reader ignore (some clients write one)
    bom = b"\xef\xbb\xbf"
    status, answer = _call(url, "/predict", bom + body.encode())
    assert status == 200 and len(answer["predictions"]) == 1, answer
    for raw, message in [(bom, "the request body is not JSON: the body is empty"),
                         # (the position of the bad byte after the mark, as without one)
                         (bom + b'{"texts": ["\xff"]}', "the request body is not JSON: 'utf-8' "
                          "codec can't decode byte 0xff in position 12")]:
        status, answer = _call(url, "/predict", raw)
        assert status == 400 and answer["error"].startswith(message), answer
    # a body over the limit: the client reads the 413 (its body was read and dropped)
    monkeypatch.setattr(serving, "MAX_BODY_BYTES", 1000)
    status, answer = _call(url, "/predict", {"texts": ["x" * 2000]})
    assert status == 413 and answer["error"].startswith("the request body has 2015 bytes")


def _raw(url: str, request: bytes) -> bytes:
    """What the server sends back on one connection to ``request`` (raw HTTP), until it
    closes the connection or stays quiet for a second."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        connection.settimeout(1.0)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


@pytest.mark.parametrize("url", ["classifier"], indirect=True)
def test_requests_that_http_server_would_misread_are_answered_in_json(url: str) -> None:
    body = b'{"texts": ["good"]}'
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    # a GET with a body: the body is read, and the next request on the connection served
    answers = _raw(url, b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 19\r\n\r\n"
                   + body + health)
    assert answers.count(b"HTTP/1.1 200 OK") == 2 and b"501" not in answers
    # a chunked body is refused and the connection closed (it was read as the next request)
    answers = _raw(url, b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   b"Content-Length: 5\r\n\r\n13\r\n" + body + b"\r\n0\r\n\r\n" + health)
    assert answers.startswith(b"HTTP/1.1 411") and answers.count(b"HTTP/1.1") == 1
    assert b"Connection: close" in answers
    # other methods: a JSON 405 naming the one the path takes (HEAD: no body)
    answers = _raw(url, b"OPTIONS /predict HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answers.startswith(b"HTTP/1.1 405") and b"Allow: POST\r\n" in answers
    assert answers.endswith(b'{"error": "/predict takes POST with a JSON body, not OPTIONS"}')
    # HEAD: GET's answer without the body (it was a 405), then the next request's
    answers = _raw(url, b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n" + health)
    assert answers.count(b"HTTP/1.1 200 OK") == 2 and answers.count(b'"status": "ok"') == 1
    answers = _raw(url, b"HEAD /predict HTTP/1.1\r\nHost: x\r\n\r\n" + health)
    assert answers.startswith(b"HTTP/1.1 405") and b"Allow: POST\r\n" in answers
    assert answers.count(b"HTTP/1.1 200 OK") == 1 and answers.count(b'"error"') == 0
    # a length that is no number of bytes is a 400 saying so (it was a 411 asking for one),
    # and the connection closes (where the body ends is unknown)
    for length, shown in [(b"9" * 5000, "'" + "9" * 37 + "...'"), (b"abc", "'abc'"),
                          (b"-5", "'-5'"), (b"+15", "'+15'"), (b"1e3", "'1e3'")]:
        answers = _raw(url, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: "
                       + length + b"\r\n\r\n{}" + health)
        assert answers.startswith(b"HTTP/1.1 400") and answers.count(b"HTTP/1.1") == 1
        assert b"Connection: close" in answers
        assert json.loads(answers.split(b"\r\n\r\n", 1)[1]) == {"error": (
            "the request's Content-Length must be a number of bytes (digits, at most 18 of "
            f"them), got {shown}")}
    answers = _raw(url, b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    assert answers.startswith(b"HTTP/1.1 400") and answers.endswith(
        b"the request's Content-Length must be a number of bytes (digits, at most 18 of "
        b"them), got 'abc'\"}")
    # a path this server does not have is a 404 first, for a GET as for a POST (it was a 400)
    for method in (b"GET", b"POST"):
        answers = _raw(url, method + b" /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: abc"
                       b"\r\n\r\n")
        assert answers.startswith(b"HTTP/1.1 404") and b"Connection: close" in answers
    # spaces and tabs around it are the header's, not the length's (RFC 9110)
    answers = _raw(url, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: \t19 \r\n\r\n"
                   + body + health)
    assert answers.count(b"HTTP/1.1 200 OK") == 2
    # a client asking before it sends a body over the limit is told 413 at once
    answers = _raw(url, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n"
                   b"Expect: 100-continue\r\n\r\n")
    assert answers.startswith(b"HTTP/1.1 413") and b"100 Continue" not in answers


@pytest.mark.parametrize("url", ["classifier"], indirect=True)
def test_a_failure_of_the_model_is_a_500_naming_it(url: str, saved: dict[str, Path],
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    from lstmkit.classification import Classifier

    def broken(self, texts):  # type: ignore[no-untyped-def]
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Classifier, "predict", broken)
    assert _call(url, "/predict", {"texts": ["fine"]}) == (500, {
        "error": "the model failed on this request (RuntimeError: out of memory)"})
    assert "Traceback" in capfd.readouterr().err  # the log has the rest


def test_serving_refuses_what_is_no_saved_model(tmp_path: Path) -> None:
    from lstmkit.cli.main import main
    from lstmkit.serving import make_server

    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_server(tmp_path / "none")
    with pytest.raises(FileNotFoundError, match=r"is not a saved model: it has no meta\.json$"):
        make_server(tmp_path)
    # a file, and a forecast run's folder (whose model is in model/), were said not to exist
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "meta.json").write_text('{"kind": "forecaster"}')
    with pytest.raises(FileNotFoundError, match=r"its subfolder 'model' holds a saved model"):
        make_server(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match=r"meta.json' is a file, not the folder of a "
                                                r"saved model"):
        make_server(tmp_path / "run" / "model" / "meta.json")
    (tmp_path / "meta.json").write_text('{"kind": "recipe"}')
    with pytest.raises(ValueError, match=r"names kind 'recipe'; lstmkit serves"):
        make_server(tmp_path)
    with pytest.raises(ValueError, match=r"^port \(--port\) must be an int in \[0, 65535\], "
                                         r"got 70000$"):
        make_server(tmp_path, port=70000)
    # None: "'NoneType' object has no attribute 'startswith'", after loading the model
    for host in (None, 127001):
        with pytest.raises(TypeError, match=r"^host \(--host\) must be a non-empty str "
                                            r"\(an address or a name"):
            make_server(tmp_path, host=host)  # type: ignore[arg-type]
    # an empty host is a bad value, not a wrong type: it raised TypeError
    with pytest.raises(ValueError, match=r"^host \(--host\) must be a non-empty str \(an "
                                         r"address or a name, .*\), got str ''$"):
        make_server(tmp_path, host="")
    assert main(["serve", "--model", str(tmp_path / "none")]) == 2


def test_a_port_in_use_is_named(saved: dict[str, Path]) -> None:
    # "[Errno 98] Address already in use", naming neither --port nor the port
    import socket

    from lstmkit.serving import make_server

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"cannot listen on host \(--host\) '127\.0\.0\.1', "
                                          rf"port \(--port\) {port}: Address already in use$"):
            make_server(saved["classifier"], port=port)


def test_lstmkit_serve_serves_until_interrupted(saved: dict[str, Path]) -> None:
    import signal
    import subprocess
    import sys

    script = str(Path(sys.executable).with_name("lstmkit"))
    server = subprocess.Popen([script, "serve", "--model", str(saved["classifier"]),
                               "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        line = server.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith(f"serving the classifier in {str(saved['classifier'])!r} at "
                               "http://127.0.0.1:")
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)  # type: ignore[union-attr]
        assert _call(url, "/predict", {"texts": ["fine"]})[0] == 200
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0 and out.strip() == "stopped", err
    assert '"POST /predict HTTP/1.1" 200' in err  # the request log


@pytest.mark.parametrize("url", ["classifier"], indirect=True)
def test_a_hundred_clients_at_once_are_all_answered(url: str) -> None:
    import http.client

    port = int(url.rsplit(":", 1)[1])
    start = threading.Barrier(100)
    statuses: list[Any] = []

    def client() -> None:
        start.wait(timeout=60)
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("POST", "/predict", body=b'{"texts": ["fine"]}')
            answer = connection.getresponse()
            answer.read()
            connection.close()
            statuses.append(answer.status)
        except OSError as err:  # (http.server's backlog of 5 reset them)
            statuses.append(type(err).__name__)

    threads = [threading.Thread(target=client) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 100


_SLOW_SERVE = """
import sys, time
import torch
from lstmkit.classification import Classifier
from lstmkit.cli.main import main
from lstmkit.serving import http
from lstmkit.serving.http import _Server

predict = Classifier.predict
_Server.stop_timeout = float(sys.argv[2])
http.CUT_GRACE = 0.1  # (a prediction 1.5 s long is still running when a cut stop ends)

def slow(self, texts):  # 1.5 seconds inside torch (or sys.argv[3])
    print("predicting", flush=True)
    x, start = torch.randn(256, 256), time.monotonic()
    while time.monotonic() - start < float(sys.argv[3] if len(sys.argv) > 3 else 1.5):
        x = torch.tanh(x @ x)
    return predict(self, texts)

Classifier.predict = slow
sys.exit(main(["serve", "--model", sys.argv[1], "--port", "0"]))
"""


def test_a_stopped_server_answers_the_requests_in_flight(saved: dict[str, Path]) -> None:
    import http.client
    import signal
    import subprocess
    import sys
    import time

    servers = {stop: subprocess.Popen(  # (both started at once: each takes seconds to start)
        [sys.executable, "-c", _SLOW_SERVE, str(saved["classifier"]), "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for stop in (signal.SIGINT, signal.SIGTERM)}
    try:
        for stop, server in servers.items():
            line = server.stdout.readline()  # type: ignore[union-attr]
            port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
            idle = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # kept alive
            idle.request("GET", "/health")
            assert idle.getresponse().read()
            answers: list[Any] = []

            def slow_request(port: int = port, answers: list[Any] = answers) -> None:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    connection.request("POST", "/predict", body=b'{"texts": ["fine"]}')
                    answer = connection.getresponse()
                    answers.append((answer.status, answer.getheader("Connection"),
                                    json.loads(answer.read())["predictions"][0]["text"]))
                except OSError as error:
                    answers.append(repr(error))

            client = threading.Thread(target=slow_request)
            client.start()
            assert server.stdout.readline() == "predicting\n"  # type: ignore[union-attr]
            stopped_at = time.monotonic()
            server.send_signal(stop)
            client.join(timeout=30)
            out, err = server.communicate(timeout=30)
            # the request in flight is answered (its connection closed after), the idle
            # connection does not keep the server waiting, and SIGTERM stops as Ctrl-C does
            assert answers == [(200, "close", "fine")], (stop, err)
            assert server.returncode == 0 and out.strip() == "stopped", (stop, err)
            assert time.monotonic() - stopped_at < 10
            idle.close()
    finally:
        for server in servers.values():
            if server.poll() is None:
                server.kill()
                server.communicate()


@contextlib.contextmanager
def _predicting(classifier: Path, *argv: str) -> Iterator[tuple[Any, int, Any]]:
    """``lstmkit serve`` of ``classifier`` in a process of its own, by ``_SLOW_SERVE`` with
    ``argv`` (the stop timeout and how long a prediction lasts), once it is predicting a
    request: the process, its port and the request's connection. Killed at the end if it
    still runs."""
    import http.client
    import subprocess
    import sys

    server = subprocess.Popen([sys.executable, "-c", _SLOW_SERVE, str(classifier), *argv],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # type: ignore[union-attr]
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))  # type: ignore[union-attr]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/predict", body=b'{"texts": ["fine"]}')
        assert server.stdout.readline() == "predicting\n"  # type: ignore[union-attr]
        yield server, port, connection
        connection.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def test_a_stop_that_cuts_a_prediction_at_its_limit_exits_0(saved: dict[str, Path]) -> None:
    # the interpreter exited under the thread still inside torch: "terminate called without
    # an active exception", SIGABRT (status 134) after "stopped"
    import signal

    with _predicting(saved["classifier"], "0.2") as (server, _, connection):
        server.send_signal(signal.SIGTERM)
        with pytest.raises(OSError):  # cut before the prediction ended: no answer
            connection.getresponse()
        out, err = server.communicate(timeout=30)
        assert server.returncode == 0 and out.strip() == "stopped", err
        assert "terminate called" not in err


@pytest.mark.parametrize("url", ["classifier"], indirect=True)
def test_a_text_with_a_lone_surrogate_is_a_400_naming_it(url: str, saved: dict[str, Path]
                                                         ) -> None:
    from lstmkit.serving import ModelService

    # (JSON's escapes can spell a lone surrogate, which no UTF-8 text holds)
    assert _call(url, "/predict", b'{"texts": ["fine", "a \\ud800"]}') == (400, {
        "error": "texts[1] must be Unicode text, got a lone surrogate '\\ud800' at character "
                 "2"})
    with pytest.raises(ValueError, match=r"^tokens\[0\]\[1\] must be Unicode text, got a "
                                         r"lone surrogate '\\udfff' at character 0$"):
        ModelService(saved["tagger"]).predict({"tokens": [["Alice", "\udfff"]]})
    forecaster = ModelService(saved["forecaster"])
    with pytest.raises(ValueError, match=r"^data\[1\]\['y'\] must be Unicode text, got a "):
        forecaster.predict({"data": [{"y": 1.0}, {"y": "\ud800"}]})
    with pytest.raises(ValueError, match=r"^a column name in data\[0\] must be Unicode text"):
        forecaster.predict({"data": [{"y\ud800": 1.0}]})


@pytest.mark.parametrize("url", ["classifier"], indirect=True)
def test_an_answer_that_cannot_be_written_is_a_500(url: str, monkeypatch: pytest.MonkeyPatch,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    from lstmkit.serving import ModelService

    # (not a request left unanswered)
    monkeypatch.setattr(ModelService, "predict", lambda self, request: {"x": "\ud800"})
    status, answer = _call(url, "/predict", {"texts": ["fine"]})
    assert status == 500 and answer["error"].startswith(
        "the answer cannot be written as JSON (UnicodeEncodeError: 'utf-8' codec can't encode "
        "character '\\ud800'")
    monkeypatch.setattr(ModelService, "predict", lambda self, request: {"x": float("nan")})
    assert _call(url, "/predict", {"texts": ["fine"]}) == (500, {
        "error": "the answer cannot be written as JSON (ValueError: Out of range float values "
                 "are not JSON compliant)"})
    assert "Traceback" in capfd.readouterr().err


@pytest.mark.parametrize("url", ["classifier"], indirect=True)
def test_a_request_with_two_content_lengths_is_refused(url: str) -> None:
    # (a proxy in front may read the other one: request smuggling)
    for lengths in [b"19\r\nContent-Length: 2", b"2\r\nContent-Length: 19",
                    b"19\r\nContent-Length: 19"]:
        for expect in [b"", b"Expect: 100-continue\r\n"]:
            answers = _raw(url, b"POST /predict HTTP/1.1\r\nHost: x\r\n" + expect
                           + b"Content-Length: " + lengths + b"\r\n\r\n" + b'{"texts": ["good"]}')
            assert answers.startswith(b"HTTP/1.1 400") and answers.count(b"HTTP/1.1") == 1
            assert b"Connection: close" in answers
            assert json.loads(answers.split(b"\r\n\r\n", 1)[1])["error"].startswith(
                "the request has 2 Content-Length headers (")


@pytest.mark.parametrize("url", ["classifier"], indirect=True)
def test_what_http_server_refuses_itself_is_answered_in_json(url: str) -> None:
    for request, status, message in [
            (b"GARBAGE\r\n\r\n", b"400", "Bad request syntax ('GARBAGE')"),
            (b"GET /a b HTTP/1.1\r\n\r\n", b"400", "Bad request syntax ('GET /a b HTTP/1.1')"),
            (b"GET / HTTP/2.0\r\n\r\n", b"505", "Invalid HTTP version (2.0)"),
            (b"GET /health HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", b"431",
             "Line too long"),
            (b"BREW /predict HTTP/1.1\r\nHost: x\r\n\r\n", b"501",
             "Unsupported method ('BREW')")]:
        answers = _raw(url, request)
        assert answers.startswith(b"HTTP/1.1 " + status) and b"application/json" in answers
        assert json.loads(answers.split(b"\r\n\r\n", 1)[1])["error"].startswith(message)


@pytest.mark.parametrize("url", ["classifier"], indirect=True)
def test_a_request_to_an_absolute_url_is_routed_on_its_path(url: str) -> None:
    port = url.rsplit(":", 1)[1].encode()
    answers = _raw(url, b"POST http://127.0.0.1:" + port + b"/predict HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Length: 19\r\n\r\n" + b'{"texts": ["good"]}' + b"GET http://127.0.0.1:"
                   + port + b"/health?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answers.count(b"HTTP/1.1 200 OK") == 2 and b'"label"' in answers
    assert b'"kind": "classifier"' in answers
    # a malformed absolute URL: a 404 naming it (urlsplit's ValueError left it unanswered)
    answer = _raw(url, b"GET http://[/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 404") and b"no 'http://[/health' here" in answer


def test_a_request_already_sent_when_the_stop_begins_is_answered(saved: dict[str, Path]
                                                                   ) -> None:
    # the connection was accepted as the server stopped: it was closed without an answer
    import socket

    from lstmkit.serving import make_server

    server = make_server(saved["classifier"], port=0, quiet=True)
    with socket.create_connection(server.server_address, timeout=30) as client:
        client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        server.stopping = True  # type: ignore[attr-defined]
        server._handle_request_noblock()  # type: ignore[attr-defined]  # accepts it
        assert client.recv(65536).startswith(b"HTTP/1.1 200 OK")
    server.server_close()


def test_a_stop_waits_for_a_stalled_client_no_longer_than_its_timeout(
        saved: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # a client that trickles its request held the stop for as long as it kept sending
    import socket
    import time

    from lstmkit.serving import make_server

    server = make_server(saved["classifier"], port=0, quiet=True)
    server.stop_timeout = 1.0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with socket.create_connection(server.server_address, timeout=30) as client:
        client.sendall(b"POST /predict HTTP/1.1\r\n")
        time.sleep(0.3)
        server.shutdown()
        started = time.monotonic()
        server.server_close()
        assert time.monotonic() - started < 5
        assert client.recv(65536) == b""  # cut
    time.sleep(0.5)  # (the cut handler's last write fails now)
    assert "Traceback" not in capsys.readouterr().err  # quiet: a BrokenPipeError's traceback


def test_a_connection_reset_while_its_request_is_read_is_one_log_line(
        saved: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # (it was said as "closed under its answer", though no answer had begun)
    import socket
    import struct
    import time

    from lstmkit.serving import make_server

    server = make_server(saved["classifier"], port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = socket.create_connection(server.server_address, timeout=30)
    client.sendall(b"POST /predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    time.sleep(0.3)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # a reset
    time.sleep(0.5)
    server.shutdown()
    server.server_close()
    err = capsys.readouterr().err
    assert "127.0.0.1: the connection closed before its answer was sent " \
           "(ConnectionResetError)" in err and "Traceback" not in err


def test_a_program_that_ends_with_a_connection_open_is_not_held(saved: dict[str, Path],
                                                               tmp_path: Path) -> None:
    # handler threads that were not daemons held the exit for the connection's 2 minutes
    import subprocess
    import sys
    import time

    script = tmp_path / "ends.py"
    script.write_text(
        "import http.client, threading, sys\n"
        "from lstmkit.serving import make_server\n"
        f"server = make_server({str(saved['classifier'])!r}, port=0, quiet=True)\n"
        "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
        "client = http.client.HTTPConnection('127.0.0.1', server.server_address[1])\n"
        "client.request('GET', '/health'); client.getresponse().read()\n"
        "print('answered', flush=True)\n", encoding="utf-8")
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "answered\n"
    started = time.monotonic()
    assert process.wait(timeout=100) == 0
    assert time.monotonic() - started < 20


def test_a_pending_request_is_seen_on_a_descriptor_past_1023() -> None:
    # select.select fails there: _pending said no request, and the stop closed it unanswered
    import os
    import resource
    import socket

    from lstmkit.serving.http import _pending

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"the descriptor limit {hard} leaves no room past 1023 here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    try:
        client, served = socket.socketpair()
        high = socket.socket(fileno=os.dup2(served.fileno(), 1500))
        with client, served, high:
            assert not _pending(high)
            client.sendall(b"GET /health HTTP/1.1\r\n\r\n")
            assert _pending(high)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_connection_whose_thread_does_not_start_leaves_the_stop_whole(
        saved: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # its entry stayed among the open connections, and server_close failed joining it
    import socket

    from lstmkit.serving import make_server

    server = make_server(saved["classifier"], port=0, quiet=True)
    client, served = socket.socketpair()

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    with monkeypatch.context() as patch:
        patch.setattr(threading.Thread, "start", no_thread)
        with pytest.raises(RuntimeError, match="can't start new thread"):
            server.process_request(served, ("127.0.0.1", 0))
    assert not server.open  # type: ignore[attr-defined]
    server.server_close()
    client.close()
    served.close()


def test_an_ipv6_address_is_served(saved: dict[str, Path]) -> None:
    # --host ::1 failed with "Address family for hostname not supported"
    import socket

    from lstmkit.serving import make_server

    try:
        socket.socket(socket.AF_INET6).close()
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with pytest.raises(OSError, match=r"host \(--host\) '::g' is no address to listen on"):
        make_server(saved["classifier"], host="::g", port=0)  # (no name to look up)
    # an address as the banner prints it, in brackets, too; :: takes IPv4 clients as well
    for host, urls in (("::1", ["http://[::1]"]), ("[::1]", ["http://[::1]"]),
                       ("::", ["http://[::1]", "http://127.0.0.1"])):
        server = make_server(saved["classifier"], host=host, port=0, quiet=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            for url in urls:
                assert _call(f"{url}:{server.server_address[1]}", "/health")[1]["status"] == "ok"
        finally:
            server.shutdown()
            server.server_close()


def test_a_stop_that_cuts_only_a_client_still_sending_is_no_cut_prediction(
        saved: dict[str, Path]) -> None:
    # serve() ended the process (os._exit) whenever a stop cut a connection: a client still
    # sending its request too, whose thread ends as soon as it is cut
    import socket
    import time

    from lstmkit.serving import make_server

    server = make_server(saved["classifier"], port=0, quiet=True)
    server.stop_timeout = 0.2  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = socket.create_connection(server.server_address[:2])
    try:
        client.sendall(b"POST /predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"te")
        time.sleep(0.2)  # (its thread is reading the rest of the body)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        client.close()
    assert server.cut is False  # type: ignore[attr-defined]


def test_a_stop_that_cuts_several_predictions_waits_once_for_them_all(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # it waited CUT_GRACE for each in turn: stop_timeout plus a second per prediction cut
    import socket
    import time
    from http.server import BaseHTTPRequestHandler

    from lstmkit.serving import http

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(3)  # a prediction inside torch, say

        def log_message(self, *args: object) -> None:
            pass

    monkeypatch.setattr(http, "CUT_GRACE", 0.5)
    server = http._Server(("127.0.0.1", 0), Slow, quiet=True)
    server.stop_timeout = 0.1
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    clients = [socket.create_connection(server.server_address[:2]) for _ in range(4)]
    for client in clients:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)  # (each is being answered)
    server.shutdown()
    start = time.monotonic()
    server.server_close()
    assert server.cut is True and time.monotonic() - start < 0.1 + 0.5 + 0.5  # not 0.1 + 4 x 0.5
    for client in clients:
        client.close()


def test_request_errors_of_any_kind_are_reworded_as_plain_errors(
        saved: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the server rebuilt an error as its own class: a UnicodeDecodeError, which takes five
    # arguments, failed to be rebuilt from one; and /health says a forecaster's bounds
    import dataclasses

    from lstmkit.forecasting import Forecaster
    from lstmkit.serving import ModelService
    from lstmkit.tagging import Tagger

    def undecodable(self: object, sentences: object) -> object:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "in sentences[0]")

    monkeypatch.setattr(Tagger, "tag_tokens", undecodable)
    with pytest.raises(ValueError, match=r"in tokens\[0\]"):
        ModelService(saved["tagger"]).predict({"tokens": [["Alice"]]})
    bounded = Forecaster.load(saved["forecaster"])
    bounded.config = dataclasses.replace(bounded.config, data=dataclasses.replace(
        bounded.config.data, target_bounds=[0, None]))
    info = ModelService(bounded.save(tmp_path / "bounded")).info()
    assert info["target_bounds"] == {t: [0.0, None] for t in bounded.config.data.target}


def test_a_second_ctrl_c_during_a_prediction_ends_at_once_with_130(
        saved: dict[str, Path]) -> None:
    # the second Ctrl-C's KeyboardInterrupt ended Python under the thread still inside torch
    import signal
    import socket
    import time

    # (a prediction 10 s long)
    with _predicting(saved["classifier"], "30", "10") as (server, port, _):
        started = time.monotonic()
        server.send_signal(signal.SIGINT)
        while time.monotonic() - started < 5:  # the first is taken once it stops listening
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.05)
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
        assert server.returncode == 130, err
        assert "terminate called" not in err and "Traceback" not in err
        assert err.rstrip().endswith("lstmkit serve: interrupted")
        assert time.monotonic() - started < 8  # at once, not after the prediction


_SLOW_LOAD = """
import atexit, sys, time
from lstmkit.cli.main import main
from lstmkit.serving import http

load = http.ModelService.__init__

def slow(self, directory):
    print("loading", flush=True)
    time.sleep(10)
    load(self, directory)

http.ModelService.__init__ = slow
atexit.register(lambda: print("exited as usual", flush=True))
sys.exit(main(["serve", "--model", sys.argv[1], "--port", "0"]))
"""


def test_a_ctrl_c_while_the_model_loads_exits_as_usual(saved: dict[str, Path]) -> None:
    # it was taken for a second Ctrl-C during predictions: the process ended at once
    # (os._exit), past Python's exit handlers, with no thread to wait for
    import signal
    import subprocess
    import sys

    server = subprocess.Popen([sys.executable, "-c", _SLOW_LOAD, str(saved["classifier"])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline() == "loading\n"  # type: ignore[union-attr]
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
        assert server.returncode == 130 and err.strip() == "lstmkit: interrupted", err
        assert out.strip() == "exited as usual"
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
