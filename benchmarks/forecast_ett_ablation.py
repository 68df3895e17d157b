"""Ablation of the ETTh1 recipe: the linear highway alone.

Runs ``forecast_ett.py`` (same flags, but no ``--jobs``) with the LSTM's output layer frozen at
its zero initialisation, so the forecast is the window's reference value (its last value, or
its mean with ``--normalization mean`` or ``revin``) plus the linear highway (and the
mean-reversion term, when on), and only those learn (the LSTM still runs but cannot change
the output). ``--normalization none`` is refused: there the output layer starts random, not
at zero, and frozen it would still pass the LSTM's output on. Compare with
``forecast_ett.py`` (highway + LSTM) and ``forecast_ett.py --no-highway`` (LSTM alone). The
table row and the JSON (``"ablation"``, ``"label"``) say it is the ablation. The recorded
ablation ran before mean reversion joined the recipe, hence its flag:

    python benchmarks/forecast_ett_ablation.py --threads 1 --no-mean-reversion \
        --out benchmarks/results/forecast_ett_highway_only.json
    python benchmarks/forecast_ett_ablation.py --horizons 96 --max-epochs 1 \
        --limit-train-batches 20 --out /tmp/forecast_ett_ablation_quick.json   # a quick check
"""

from __future__ import annotations

import sys
from pathlib import Path

from torch import nn

from lstmkit.forecasting import model

sys.path.insert(0, str(Path(__file__).resolve().parent))
import forecast_ett

OUT = "benchmarks/results/forecast_ett_ablation.json"  # not forecast_ett.json, the recipe's
LABEL = "ablation: highway alone (this run)"
ABLATION = ("highway alone: the LSTM's output layer frozen at its zero initialisation, so the "
            "forecast is the window's reference value plus the linear highway (plus the "
            "mean-reversion term when on); everything else as forecast_ett.py")

_build = model.ForecastNet.__init__


def _frozen_head(self: model.ForecastNet, *args: object, **kwargs: object) -> None:
    _build(self, *args, **kwargs)
    if self.highway is None:
        raise ValueError("the ablation needs the highway: drop --no-highway")
    head: nn.Linear = self.head
    head.weight.requires_grad_(False)
    head.bias.requires_grad_(False)


if __name__ == "__main__":
    # no --jobs: worker processes would not have the frozen head
    parser, args = forecast_ett.parse_args(description=__doc__.splitlines()[0], jobs=False,
                                           out=OUT)
    if not args.highway:
        parser.error("--no-highway: the ablation keeps the highway alone, so it needs "
                     "--highway (the default)")
    if args.normalization == "none":
        parser.error("--normalization none: the output layer starts at zero only with "
                     "per-window normalisation (last, mean or revin); with none it starts "
                     "random and the frozen layer would pass the LSTM's output on")
    model.ForecastNet.__init__ = _frozen_head  # type: ignore[method-assign]
    forecast_ett.main(args, label=LABEL, ablation=ABLATION)
