"""The built-in demo trains, reports gate behaviour it measured, and draws it."""

from __future__ import annotations

import pytest

from lstmkit.cli.main import main
from lstmkit.demo import run_demo


def test_demo_learns_and_its_forget_gates_react_to_marks(tmp_path):
    result = run_demo(tmp_path, steps=150, log_every=0)
    assert result.test_mse < 0.25 * result.baseline_mse
    assert result.forget_at_mark < result.forget_elsewhere
    assert result.plot.read_bytes()[:4] == b"\x89PNG"


def test_demo_cli_runs_and_rejects_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--steps", "3"]) == 0
    assert "forget gate f" in capsys.readouterr().out
    assert main(["demo", "--steps", "0"]) == 2
    assert "--steps must be >= 1, got 0" in capsys.readouterr().err
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["demo", "--out", str(afile)]) == 2  # before training
    assert "--out must be a directory to write into" in capsys.readouterr().err
    assert main(["demo", "--out", str(afile / "sub")]) == 2  # under a file: before training
    assert "which is a file, not a directory" in capsys.readouterr().err
    assert main(["demo", "--seed", str(2**64)]) == 2
    assert f"--seed must be in [0, {2**32 - 1}], got {2**64}" in capsys.readouterr().err
    assert main(["demo", "--seed", str(10**400)]) == 2  # (not printed whole)
    assert f"--seed must be in [0, {2**32 - 1}], got an int of 401 digits" in \
        capsys.readouterr().err


def test_the_demos_sequence_length_is_bounded_before_any_work(tmp_path, capsys, monkeypatch):
    # --seq-len 100000 traced 256 sequences of it and drew every step: it grew until the
    # out-of-memory killer ended it, after minutes, without a word
    import numpy as np

    import lstmkit.demo
    from lstmkit.demo import MAX_SEQ_LEN, check_seq_len

    def no_work(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the demo started work")

    monkeypatch.setattr(lstmkit.demo, "reset_sum_batch", no_work)
    monkeypatch.setattr(lstmkit.demo, "LSTM", no_work)
    assert MAX_SEQ_LEN == 10_000
    why = (r": the demo traces 256 sequences of that many steps and draws every step, about "
           r"0\.3 MB a step \(3\.4 GB at 10000\)$")
    for seq_len, error, message in [
            (100_000, ValueError, r"^seq_len must be an int in \[2, 10000\], got 100000" + why),
            (MAX_SEQ_LEN + 1, ValueError, r"^seq_len must be an int in \[2, 10000\], got 10001"),
            (np.int64(10**6), ValueError, r"^seq_len must be an int in \[2, 10000\], got "
                                          r"1000000" + why),
            (10**400, ValueError, r"^seq_len must be an int in \[2, 10000\], got an int of 401 "
                                  r"digits" + why),
            (1, ValueError, r"^seq_len must be an int >= 2, got 1$"),
            (30.0, TypeError, r"^seq_len must be an int in \[2, 10000\], got float 30\.0$"),
            (True, TypeError, r"^seq_len must be an int in \[2, 10000\], got bool True$")]:
        with pytest.raises(error, match=message):
            run_demo(tmp_path / "api", seq_len=seq_len, log_every=0)
    with pytest.raises(ValueError, match=r"^steps must be an int >= 1, got 0$"):
        run_demo(tmp_path / "api", steps=0, log_every=0)
    assert check_seq_len(MAX_SEQ_LEN) == MAX_SEQ_LEN and check_seq_len(np.int64(2)) == 2
    # the command line names its flag, before the output folder is made
    assert main(["demo", "--out", str(tmp_path / "cli"), "--seq-len", "100000"]) == 2
    err = capsys.readouterr().err
    assert "--seq-len must be an int in [2, 10000], got 100000: the demo traces 256" in err
    assert main(["demo", "--out", str(tmp_path / "cli"), "--seq-len", "1"]) == 2
    assert "--seq-len must be an int >= 2, got 1" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists() and not (tmp_path / "api").exists()
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "2 to 10000" in " ".join(capsys.readouterr().out.split())


def test_the_demos_verdict_is_the_forget_gate_it_measured(tmp_path, capsys, monkeypatch):
    import lstmkit.demo

    def measured(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = run_demo(*args, **kwargs)
        return result.__class__(**{**result.__dict__, "forget_at_mark": 0.75})

    monkeypatch.setattr(lstmkit.demo, "run_demo", measured)
    assert main(["demo", "--out", str(tmp_path), "--steps", "2"]) == 0
    assert "f = 0.750 at marked steps (so 25% of the memory thrown away)" in \
        capsys.readouterr().out


def test_plot_trace_writes_a_png_at_the_path_it_returns(tmp_path, monkeypatch):
    import numpy as np
    import torch
    from matplotlib.axes import Axes

    from lstmkit import LSTM, plot_trace

    imshow = Axes.imshow
    trace = LSTM(3, 4).trace(torch.randn(5, 2, 3))
    for name in ("gates", "gates.v1", "gates.png"):
        path = plot_trace(trace, tmp_path / name)
        assert path == tmp_path / name and path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"events must be time steps in \[0, 4\], got \[5\]"):
        plot_trace(trace, tmp_path / "x.png", events=[2, 5])
    # the steps of a mask, as nonzero() gives them (N, 1), and numpy's whole numbers are taken
    lines = []
    monkeypatch.setattr("matplotlib.axes.Axes.axvline",
                        lambda ax, t, **kwargs: lines.append(t))
    flags = torch.tensor([False, True, False, True, False])
    plot_trace(trace, tmp_path / "events.png", events=flags.nonzero(), fields=("f",))
    plot_trace(trace, tmp_path / "events.png", events=np.array([4]), fields=("f",))
    assert lines == [1, 3, 4] and all(type(t) is int for t in lines)
    # whole numbers as floats, one step alone, and the items of list(mask.nonzero()) too
    plot_trace(trace, tmp_path / "events.png", events=[2.0, torch.tensor(0)], fields=("f",))
    plot_trace(trace, tmp_path / "events.png", events=torch.tensor(4), fields=("f",))
    plot_trace(trace, tmp_path / "events.png", events=list(flags.nonzero()), fields=("f",))
    plot_trace(trace, tmp_path / "events.png", events=np.array([2.0]), fields=("f",))
    assert lines[-6:] == [2, 0, 4, 1, 3, 2] and all(type(t) is int for t in lines)
    for events, message in ((flags, r"events must be whole time steps, got a tensor of "
                                     r"torch\.bool \(for a mask of steps, pass mask\.nonzero"),
                            ([1.5], r"events must be whole time steps, got 1\.5"),
                            (np.array([2.0, 0.5]), r"events must be whole time steps, got an "
                                                   r"array of float64 holding 0\.5$"),
                            (np.zeros(2, bool), r"events must be whole time steps, got an array "
                                                r"of bool \(for a mask of steps, pass "
                                                r"np\.flatnonzero\(mask\)\)"),
                            (3, r"events must be a sequence of time steps, got int 3")):
        with pytest.raises(TypeError, match=message):
            plot_trace(trace, tmp_path / "x.png", events=events)
    # a (T, B) mask's nonzero() gives (t, b) pairs: not steps (the b were drawn as steps)
    pairs = torch.zeros(5, 2, dtype=torch.bool)
    pairs[3, 1] = True
    with pytest.raises(ValueError, match=r"events must be time steps, one a row, got a tensor "
                                         r"of shape \(1, 2\) \(nonzero\(\) of a \(T, B\) "
                                         r"mask gives \(t, b\) pairs"):
        plot_trace(trace, tmp_path / "x.png", events=pairs.nonzero())
    monkeypatch.undo()
    # a trace keeps its lengths, and its plot leaves the padding blank (not a gate at 0)
    assert trace.lengths is None
    trace = LSTM(3, 4).trace(torch.randn(5, 2, 3), lengths=[5, 2])
    assert trace.lengths.tolist() == [5, 2]
    drawn = []
    monkeypatch.setattr("matplotlib.axes.Axes.imshow",
                        lambda ax, values, **kwargs: drawn.append(values) or imshow(
                            ax, values, **kwargs))
    plot_trace(trace, tmp_path / "padded.png", batch_index=1, fields=("f",))
    assert np.isnan(drawn[0][:, 2:]).all() and not np.isnan(drawn[0][:, :2]).any()  # (H, T)


def test_cli_without_a_command_prints_help(capsys):
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["no-such-command"])


def test_ctrl_c_where_no_command_handles_it_is_one_line_and_status_130(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # (a traceback, when Ctrl-C came while a command loaded its model, say)
    from lstmkit.cli import demo

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "run", interrupted)
    assert main(["demo"]) == 130
    assert capsys.readouterr().err == "lstmkit: interrupted\n"


def test_the_demo_draws_every_gate_and_state_each_named(tmp_path, monkeypatch):
    # it drew f, i, c and h: not the output gate nor the candidate, and panels named by letter
    from matplotlib.axes import Axes

    labels: list[str] = []
    set_ylabel = Axes.set_ylabel
    monkeypatch.setattr(Axes, "set_ylabel",
                        lambda self, text, **kw: labels.append(text) or set_ylabel(self, text,
                                                                                   **kw))
    run_demo(tmp_path, steps=2, log_every=0)
    assert [label.split("\n")[0] for label in labels if label] == [  # ('': colour bars)
        "f: forget gate", "i: input gate", "g: candidate", "o: output gate", "c: cell state",
        "h: hidden state"]
