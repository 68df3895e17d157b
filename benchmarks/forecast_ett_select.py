"""Choose among ETTh1 (or ETTh2) runs of candidate settings on validation, per horizon.

Each input is the JSON that ``benchmarks/forecast_ett.py`` writes for one candidate setting
(the same seeds for every candidate). For each horizon the candidate with the lowest mean
validation MSE over the seeds is chosen, and its test MSE / MAE are the result: test plays no
part in the choice. Prints every candidate's validation and test figures and the chosen one,
and writes JSON.

    python benchmarks/forecast_ett.py --seeds 0 1 2 --out ett_recipe.json
    python benchmarks/forecast_ett.py --seeds 0 1 2 --mean-reversion --out ett_mr.json
    python benchmarks/forecast_ett_select.py ett_recipe.json ett_mr.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# the settings that tell the candidates apart, as forecast_ett.py records them
SETTINGS = ("lookback", "segment_len", "hidden", "dropout", "highway", "normalization",
            "mean_reversion", "ensemble", "lr", "lr_gamma", "batch_size", "max_epochs",
            "ema_decay")


def summarise(path: Path) -> dict[str, object]:
    """One candidate: its settings and, per horizon, the seeds and mean scores."""
    data = json.loads(path.read_text())
    by_horizon: dict[int, list[dict[str, float]]] = {}
    for run in data["runs"]:
        by_horizon.setdefault(int(run["horizon"]), []).append(run)
    return {
        "file": str(path),
        "dataset": data["settings"].get("dataset", "ETTh1"),  # ETTh1 before --dataset
        "settings": {k: data["settings"].get(k) for k in SETTINGS},
        "horizons": {h: {"seeds": sorted(int(r["seed"]) for r in runs),
                         "val_mse": float(np.mean([r["best_val_mse"] for r in runs])),
                         "mse": float(np.mean([r["mse"] for r in runs])),
                         "mae": float(np.mean([r["mae"] for r in runs])),
                         "wall_s": float(np.mean([r["total_wall_s"] for r in runs]))}
                     for h, runs in sorted(by_horizon.items())},
    }


def choose(candidates: list[dict[str, object]]) -> dict[int, int]:
    """Per horizon, the index of the candidate with the lowest mean validation MSE."""
    datasets = sorted({c["dataset"] for c in candidates})
    if len(datasets) != 1:
        raise ValueError(f"the candidates must have run on one dataset, got {datasets}")
    horizons = sorted(set.intersection(*(set(c["horizons"]) for c in candidates)))
    chosen = {}
    for h in horizons:
        seeds = {tuple(c["horizons"][h]["seeds"]) for c in candidates}
        if len(seeds) != 1:
            raise ValueError(f"the candidates must have run the same seeds at horizon {h}, "
                             f"got {sorted(seeds)}")
        chosen[h] = min(range(len(candidates)),
                        key=lambda i: candidates[i]["horizons"][h]["val_mse"])
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="forecast_ett.py JSON, one per "
                        "candidate setting")
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/forecast_ett_selected.json"))
    args = parser.parse_args()
    if len(args.runs) < 2:
        parser.error(f"runs: give at least two candidates, got {len(args.runs)}")
    candidates = [summarise(path) for path in args.runs]
    chosen = choose(candidates)
    horizons = list(chosen)
    print(f"{candidates[0]['dataset']}, mean over seeds: validation MSE | test MSE per horizon; "
          "* chosen on validation")
    print(f"{'candidate':40s}" + "".join(f"{h:>22d}" for h in horizons))
    for i, c in enumerate(candidates):
        cells = "".join(
            f"{'*' if chosen[h] == i else ' ':>3s}{c['horizons'][h]['val_mse']:>9.4f} | "
            f"{c['horizons'][h]['mse']:.4f}" for h in horizons)
        print(f"{Path(c['file']).name:40s}{cells}")
    result = [{"horizon": h, "chosen": candidates[i]["file"],
               "settings": candidates[i]["settings"],
               **candidates[i]["horizons"][h]} for h, i in chosen.items()]
    print("chosen: " + ", ".join(f"{r['horizon']}: test MSE {r['mse']:.3f} / MAE "
                                 f"{r['mae']:.3f}" for r in result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"candidates": candidates, "chosen": result}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
