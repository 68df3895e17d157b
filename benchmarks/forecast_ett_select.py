"""Choose among ETTh1 (or ETTh2) runs of candidate settings on validation, per horizon.

Each input is the JSON that ``benchmarks/forecast_ett.py`` writes for one candidate setting
(the same seeds for every candidate). For each horizon the candidate with the lowest mean
validation MSE over the seeds is chosen, and its test MSE / MAE are the result: test plays no
part in the choice; only horizons that every candidate ran are compared (the output names
the ones left out). Prints every candidate's validation and test figures and the chosen one,
and writes JSON (by default benchmarks/results/forecast_ett_selected.json, which the docs
cite: give other selections their own --out).

    python benchmarks/forecast_ett.py --seeds 0 1 2 --out ett_recipe.json
    python benchmarks/forecast_ett.py --seeds 0 1 2 --no-mean-reversion --out ett_no_mr.json
    python benchmarks/forecast_ett_select.py ett_recipe.json ett_no_mr.json --out ett_selected.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment

# the settings that tell the candidates apart, as forecast_ett.py records them
SETTINGS = ("lookback", "segment_len", "hidden", "dropout", "highway", "normalization",
            "mean_reversion", "ensemble", "lr", "lr_gamma", "batch_size", "max_epochs",
            "ema_decay", "loss")


def summarise(path: Path) -> dict[str, object]:
    """One candidate: its settings and, per horizon, the seeds and mean scores; a
    ValueError for a file that is not a forecast_ett.py result."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} cannot be read as JSON ({err})") from None
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list) or not isinstance(data.get("settings"), dict) or not all(
            isinstance(r, dict) and {"horizon", "seed", "best_val_mse", "mse", "mae",
                                     "total_wall_s"} <= set(r) for r in runs):
        raise ValueError(f"{path} is not a forecast_ett.py result (it has no 'settings' and "
                         "'runs' with each run's horizon, seed and scores)")
    by_horizon: dict[int, list[dict[str, float]]] = {}
    for run in data["runs"]:
        by_horizon.setdefault(int(run["horizon"]), []).append(run)
    return {
        "file": str(path),
        "dataset": data["settings"].get("dataset", "ETTh1"),  # ETTh1 before --dataset
        # (files written before --loss trained with MSE)
        "settings": {k: data["settings"].get(k, "mse" if k == "loss" else None)
                     for k in SETTINGS},
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
    seen: dict[Path, Path] = {}
    for path in args.runs:
        if path.resolve() in seen:
            parser.error(f"runs: each candidate once, got {seen[path.resolve()]} and {path}, "
                         "the same file")
        seen[path.resolve()] = path
    try:
        candidates = [summarise(path) for path in args.runs]
        chosen = choose(candidates)
    except ValueError as err:
        parser.error(f"runs: {err}")
    horizons = list(chosen)
    left_out = {h: [Path(c["file"]).name for c in candidates if h in c["horizons"]]
                for c in candidates for h in c["horizons"] if h not in chosen}
    for h, files in sorted(left_out.items()):
        print(f"horizon {h} left out: only {', '.join(files)} ran it, not every candidate")
    if not horizons:
        parser.error("runs: the candidates share no horizon, so there is nothing to choose")
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
    args.out.write_text(json.dumps({"environment": environment(), "candidates": candidates,
                                    "chosen": result,
                                    "horizons_left_out": sorted(left_out)}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
