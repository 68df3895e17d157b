"""Ablation of the ETTh1 recipe: the linear highway alone.

Runs ``forecast_ett.py`` (same flags) with the LSTM's output layer frozen at its zero
initialisation, so the forecast is the last value plus the linear highway and only the
highway learns (the LSTM still runs but cannot change the output). Compare with
``forecast_ett.py`` (highway + LSTM) and ``forecast_ett.py --no-highway`` (LSTM alone).
The recorded ablation ran before mean reversion joined the recipe, hence its flag:

    python benchmarks/forecast_ett_ablation.py --threads 1 --no-mean-reversion \
        --out benchmarks/results/forecast_ett_highway_only.json
"""

from __future__ import annotations

import sys
from pathlib import Path

from torch import nn

from lstmkit.forecasting import model

sys.path.insert(0, str(Path(__file__).resolve().parent))
import forecast_ett

_build = model.ForecastNet.__init__


def _frozen_head(self: model.ForecastNet, *args: object, **kwargs: object) -> None:
    _build(self, *args, **kwargs)
    if self.highway is None:
        raise ValueError("the ablation needs the highway: drop --no-highway")
    head: nn.Linear = self.head
    head.weight.requires_grad_(False)
    head.bias.requires_grad_(False)


if __name__ == "__main__":
    model.ForecastNet.__init__ = _frozen_head  # type: ignore[method-assign]
    # no --jobs: worker processes would not have the frozen head
    forecast_ett.main(description=__doc__.splitlines()[0], jobs=False)
