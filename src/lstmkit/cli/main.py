"""Entry point of the ``lstmkit`` command.

Each subcommand lives in its own module of this package and exposes two functions:
``add_parser(parser)`` registers its arguments and ``run(args) -> int`` does the work by
calling library functions. Subcommand modules import only argparse at the top; heavy imports
(lightning, pandas, an application) happen inside ``run``, so ``lstmkit --help`` loads torch
alone (``import lstmkit`` does, to register its torch operators: about 3 s here) and a
missing optional dependency of one application never breaks the others.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# subcommand name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("lstmkit.cli.demo", "train a small LSTM on a generated task and show its gates"),
    "forecast": ("lstmkit.cli.forecast", "train, evaluate, predict and backtest forecasters"),
    "classify": ("lstmkit.cli.classify", "text classification (sentiment): train, evaluate, "
                 "predict"),
    "tag": ("lstmkit.cli.tag", "sequence tagging (NER): train, evaluate, predict"),
    "serve": ("lstmkit.cli.serve", "answer predictions of a saved model over HTTP (JSON)"),
    "export": ("lstmkit.cli.export", "write a saved model as an ONNX file (for onnxruntime)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstmkit", description="The LSTM toolkit: layers, fast kernels and applications."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C where no command handles it (loading a model, say)
        print("lstmkit: interrupted", file=sys.stderr)
        return 130  # (128 + SIGINT, as a shell reports a process that Ctrl-C ended)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(args._module)
    # the texts of lstmkit's warnings printed by this command: a report leaves them out of
    # the notes it prints rather than print them twice
    args._warned = set()
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warnings(args.command, warnings.showwarning,
                                                  args._warned)
        try:
            code = int(module.run(args) or 0)
            sys.stdout.flush()  # a reader that went away is met here, not at the exit
            return code
        except BrokenPipeError:
            # stdout's reader went away (`lstmkit ... | head -1`): stop quietly, with the status
            # of a process that SIGPIPE ended (128 + 13) as `yes | head -1` does; stdout goes
            # to devnull so that Python's own flush at the exit does not fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141
        except _user_errors() as err:
            print(f"lstmkit {args.command}: error: {err}", file=sys.stderr)
            return 2
        except RuntimeError as err:
            if not _peer_gone(err):
                raise
            # under DDP, the other processes of a run whose first one failed (its error is
            # printed there) lose their connection: one line each, not a second traceback
            print(f"lstmkit {args.command}: stopped: another process of the run failed "
                  "(its error is above, if it could print one)", file=sys.stderr)
            return 1


def _peer_gone(err: RuntimeError) -> bool:
    """Whether ``err`` is a collective that failed because another process of a
    distributed run went away (gloo's words for it, and NCCL's as its documentation gives
    them: unchecked here, on CPU), in a process not the first."""
    from lstmkit.training import is_first_process

    text = str(err)
    return not is_first_process() and any(words in text for words in (
        "Connection closed by peer", "remote worker crashing", "Connection reset by peer",
        "ncclRemoteError", "remote process exited"))


def _one_line_warnings(command: str, default: Callable[..., None],
                       warned: set[str]) -> Callable[..., None]:
    """``warnings.showwarning`` that prints lstmkit's own UserWarnings as one line, like its
    errors (the default adds the file, line number and source line of the warning), and each
    text once; others (torch's, Lightning's) as before."""
    package = str(Path(__file__).resolve().parents[1])

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if issubclass(category, UserWarning) and str(Path(filename).resolve()).startswith(
                package):
            if str(message) not in warned:  # the data are read by each step of a command
                warned.add(str(message))
                print(f"lstmkit {command}: warning: {message}", file=file or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def _user_errors() -> tuple[type[Exception], ...]:
    """What a user's mistake raises: bad values and types, files (missing, a folder where a
    file should be, no permission), a missing optional package (an accelerator's, an
    extra's), unparsable YAML, and Lightning's verdict on hardware
    settings (a GPU accelerator on a machine without one, devices=0). Anything else is a
    bug and keeps its traceback."""
    kinds: list[type[Exception]] = [ValueError, TypeError, OSError, ImportError]
    for module, name in (("yaml", "YAMLError"),
                         ("lightning.fabric.utilities.exceptions", "MisconfigurationException")):
        loaded = sys.modules.get(module)  # imported by the command if it can raise it
        if loaded is not None:
            kinds.append(getattr(loaded, name))
    return tuple(kinds)


if __name__ == "__main__":
    sys.exit(main())
