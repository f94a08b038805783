"""grunet against statsforecast's AutoETS/AutoARIMA (and friends) on the validation corpus, on the same splits, the
way a user runs grunet: `grunet train` on the train part of each file, then `grunet predict`, nothing else.

    .venv/bin/python benchmarks/versus_peers.py [--grunet-root PATH] [--protocol dev|early]
        [--only a10,UKgas] [--seeds 0,1,2] [--final-fit] [--extra "--window 24 --ensemble 3"] [--jobs 1]
        [--json FILE] [--keep-runs DIR]

Needs a Python with grunet's dependencies (torch, pandas); grunet itself is run from --grunet-root (default: the
checkout this script is in) as `python -m grunet` with PYTHONPATH set to it, so a worktree can be measured with the
main venv. The peers' figures come from peers.json (benchmarks/peers.py, run once in the peers' venv): statsforecast
is never imported here. Their RMSE is recomputed from the stored forecasts on the series grunet forecast, so a file
where grunet left series out is compared on the same series.

Variants (each a column): `defaults` (only the file's columns and the horizon: --target --time-col [--id-col]
--horizon H --quiet --no-plots --out TMP, plus --seed for seeds other than 0); with --final-fit also `final-fit`
(the same plus --test-size 0: train on every point, as a user forecasting the future would... if they knew the flag);
with --extra FLAGS also `extra` (defaults plus FLAGS, repeatable: extra, extra2, ...).
ratio = grunet RMSE (mean over seeds) / the better of AutoETS and AutoARIMA; < 1 is a win. The bottom lines give the
geometric mean of the ratio over the files grunet forecast, the wins, the failures (grunet's one-line error) and the
seconds. Protocols (corpus_common.py): dev = forecast the last horizon of each series; early = one horizon earlier.
Tune on these, never on a held-out test set.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus_common import DEFAULT_FOLDER, PROTOCOLS, geomean, load_manifest, series_metrics, split  # noqa: E402

PEER_COLUMNS = ("AutoETS", "AutoARIMA", "AutoTheta", "SeasonalNaive", "Naive")


def last_error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no message)"


def run_grunet(
    python: str, root: Path, entry: dict, train_csv: Path, flags: list[str], seed: int, workdir: Path, timeout: float
) -> dict:
    """One train + predict. Returns {forecasts: {series: values}} or {error: line}, with seconds."""
    cols = entry["columns"]
    run = workdir / "run"
    cmd = [
        python,
        "-m",
        "grunet",
        "train",
        "--data",
        str(train_csv),
        "--target",
        cols["target"],
        "--time-col",
        cols["time_col"],
    ]
    if cols.get("id_col"):
        cmd += ["--id-col", cols["id_col"]]
    cmd += ["--horizon", str(entry["horizon"]), "--quiet", "--no-plots", "--out", str(run)]
    if seed != 0:
        cmd += ["--seed", str(seed)]
    cmd += flags
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    out = dict(
        command=" ".join(shlex.quote(c) for c in cmd[1:])
        .replace(str(workdir) + "/", "")
        .replace(str(train_csv), entry["file"])
    )
    for step, args in (("train", cmd), ("predict", [python, "-m", "grunet", "predict", "--run", str(run)])):
        try:
            proc = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            out.update(error=f"{step}: timed out after {timeout:.0f}s", seconds=time.perf_counter() - start)
            return out
        if proc.returncode != 0:
            line = last_error_line(proc.stderr or proc.stdout).replace(str(train_csv), entry["file"])
            out.update(error=f"{step} (exit {proc.returncode}): {line}", seconds=time.perf_counter() - start)
            return out
        if step == "train":
            out["train_seconds"] = time.perf_counter() - start
            for line in proc.stdout.splitlines():
                if line.startswith("trained "):
                    out["train_note"] = line.strip()
    out["seconds"] = time.perf_counter() - start
    id_col = cols.get("id_col")
    frame = pd.read_csv(run / "forecast.csv", dtype={id_col: str} if id_col else None)
    if id_col and id_col not in frame.columns:  # grunet before its forecast table took the data's column names
        id_col = "series"
    groups = frame.groupby(id_col, sort=False) if id_col else [("", frame)]
    forecasts, bounds = {}, {}
    for series, g in groups:
        g = g.sort_values("step")
        forecasts[series] = g["value"].to_numpy(float)
        bounds[series] = {
            level: (g[f"lo-{level}"].to_numpy(float), g[f"hi-{level}"].to_numpy(float))
            for level in (80, 95)
            if f"lo-{level}" in g
        }
    out["forecasts"], out["bounds"] = forecasts, bounds
    return out


def inside(truth: dict, bounds: dict) -> dict:
    """Per interval level: how many truth points fell inside grunet's interval, and how many there were."""
    counts: dict = {}
    for name, levels in bounds.items():
        if name not in truth:
            continue
        for level, (lower, upper) in levels.items():
            hit, total = counts.get(level, (0, 0))
            counts[level] = (hit + int(np.sum((truth[name] >= lower) & (truth[name] <= upper))), total + len(lower))
    return counts


def score(train: dict, truth: dict, forecasts: dict, season: int, h: int) -> tuple[dict, list[str]]:
    """Per-series metrics of the series with a complete, finite forecast; the names of the others."""
    per, missing = {}, []
    for name in truth:
        f = np.asarray(forecasts.get(name, []), float)
        if f.shape != (h,) or not np.all(np.isfinite(f)):
            missing.append(name)
            continue
        per[name] = series_metrics(train[name], truth[name], f, season)
    return per, missing


def mean_of(per: dict, names, key="rmse") -> float:
    vals = [per[n][key] for n in names if n in per]
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def evaluate(args, entry: dict, peers: dict, variants: dict, root: Path) -> dict:
    folder = args.corpus
    kept, train, truth = split(folder, entry, args.protocol)
    season, h = entry["season"], entry["horizon"]
    result = dict(name=entry["name"], frequency=entry["frequency"], horizon=h, n_series=len(truth), variants={})
    peer = peers.get("files", {}).get(entry["name"], {}).get(args.protocol)
    if peer and peer.get("sha256") != entry["sha256"]:
        result["peer_warning"] = "peers.json was computed on another version of this file"
    if peer:  # the peers on every series (the table's peer columns when grunet failed)
        result["peers_all"] = {}
        for model, res in peer["models"].items():
            per, _ = score(train, truth, res["forecasts"], season, h)
            result["peers_all"][model] = dict(rmse=mean_of(per, per), mase=mean_of(per, per, "mase"))
    with tempfile.TemporaryDirectory(prefix=f"vp-{entry['name']}-") as tmp:
        train_csv = Path(tmp) / entry["file"]
        kept.to_csv(train_csv, index=False)
        for label, flags in variants.items():
            runs = []
            for seed in args.seeds:
                workdir = Path(tmp) / f"{label}-{seed}"
                workdir.mkdir()
                r = run_grunet(args.python, root, entry, train_csv, flags, seed, workdir, args.timeout)
                if args.keep_runs and (workdir / "run").is_dir():  # the run folder, for study after (no model)
                    shutil.copytree(
                        workdir / "run",
                        Path(args.keep_runs) / entry["name"] / f"{label}-{seed}",
                        ignore=shutil.ignore_patterns("*.pt", "*.png", "*.onnx", ".grunet*"),
                        dirs_exist_ok=True,
                    )
                if "forecasts" in r:
                    per, missing = score(train, truth, r.pop("forecasts"), season, h)
                    r.update(per=per, missing=missing, inside=inside(truth, r.pop("bounds")))
                    if not per:
                        r["error"] = "predict wrote no usable forecast"
                runs.append(r)
            result["variants"][label] = summarise_runs(runs, peer, train, truth, season, h)
    return result


def summarise_runs(runs: list[dict], peer: dict | None, train, truth, season, h) -> dict:
    ok = [r for r in runs if "error" not in r]
    out = dict(
        seconds=float(sum(r.get("seconds", 0) for r in runs)),
        command=runs[0].get("command", ""),
        notes=sorted({r.get("train_note", "") for r in ok} - {""}),
    )
    if not ok:
        out["error"] = runs[0]["error"]
        return out
    if len(ok) < len(runs):
        first = next(r for r in runs if "error" in r)["error"]
        out["partial"] = f"{len(runs) - len(ok)} of {len(runs)} seeds failed: {first}"
    names = sorted(set.intersection(*(set(r["per"]) for r in ok)))  # series forecast by every seed
    out["missing"] = sorted(set(truth) - set(names))
    out["coverage"] = {
        level: [sum(r["inside"].get(level, (0, 0))[k] for r in ok) for k in (0, 1)] for level in (80, 95)
    }
    out["rmse_seeds"] = [mean_of(r["per"], names) for r in ok]
    out["rmse"] = float(np.mean(out["rmse_seeds"]))
    out["mase"] = float(np.mean([mean_of(r["per"], names, "mase") for r in ok]))
    out["smape"] = float(np.mean([mean_of(r["per"], names, "smape") for r in ok]))
    out["peers"] = {}
    if peer:
        for model, res in peer["models"].items():
            per, _ = score(train, truth, res["forecasts"], season, h)
            out["peers"][model] = dict(rmse=mean_of(per, names), mase=mean_of(per, names, "mase"))
        best = min(out["peers"][m]["rmse"] for m in ("AutoETS", "AutoARIMA") if m in out["peers"])
        out["best_peer_rmse"] = best
        out["ratio"] = out["rmse"] / best if best > 0 else float("nan")
    return out


def fmt(v, digits=4) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.{digits}g}"


def table(results: list[dict], variants: dict, protocol: str, seeds) -> str:
    labels = list(variants)
    head = (
        ["file", "freq", "h", "series"]
        + [f"grunet {lab}" for lab in labels]
        + list(PEER_COLUMNS)
        + [f"ratio {lab}" for lab in labels]
        + ["grunet s"]
    )
    lines = [
        f"### grunet vs peers, protocol {protocol}, seeds {','.join(map(str, seeds))} (mean over series of "
        f"per-series RMSE)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in results:
        peers = next(
            (r["variants"][lab].get("peers") for lab in labels if r["variants"][lab].get("peers")),
            r.get("peers_all", {}),
        )
        cells = [r["name"], r["frequency"], str(r["horizon"]), str(r["n_series"])]
        for lab in labels:
            v = r["variants"][lab]
            missing = f" ({len(v['missing'])} missing)" if "error" not in v and v["missing"] else ""
            cell = "FAIL" if "error" in v else fmt(v["rmse"]) + missing
            cells.append(cell)
        cells += [fmt(peers.get(m, {}).get("rmse")) for m in PEER_COLUMNS]
        for lab in labels:
            v = r["variants"][lab]
            ratio = v.get("ratio")
            cells.append("-" if ratio is None else (f"**{ratio:.2f}**" if ratio < 1 else f"{ratio:.2f}"))
        cells.append(" / ".join(f"{r['variants'][lab]['seconds']:.0f}" for lab in labels))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for lab in labels:
        vs = [r["variants"][lab] for r in results]
        ratios = [v["ratio"] for v in vs if "ratio" in v]
        wins = sum(x < 1 for x in ratios)
        fails = [(r["name"], r["variants"][lab]["error"]) for r in results if "error" in r["variants"][lab]]
        partial = [(r["name"], r["variants"][lab]["missing"]) for r in results if r["variants"][lab].get("missing")]
        lines.append(
            f"**{lab}** (`{' '.join(variants[lab]) or 'no extra flags'}`): geometric mean ratio "
            f"{fmt(geomean(ratios), 3)} over {len(ratios)} files; wins {wins}/{len(ratios)} "
            f"(of {len(vs)} files); failures {len(fails)}; grunet seconds {sum(v['seconds'] for v in vs):.0f}"
        )
        covered = {
            level: [sum(v.get("coverage", {}).get(level, [0, 0])[k] for v in vs) for k in (0, 1)] for level in (80, 95)
        }
        if covered[80][1]:
            lines.append(
                f"- intervals: the 80 % cover {100 * covered[80][0] / covered[80][1]:.1f} %, the 95 % "
                f"{100 * covered[95][0] / max(covered[95][1], 1):.1f} % of {covered[80][1]} held-out points"
            )
        for name, err in fails:
            lines.append(f"- FAIL {name}: {err}")
        for name, missing in partial:
            lines.append(
                f"- {name}: no forecast for {len(missing)} series (compared on the others): "
                f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
            )
        lines.append("")
    for r in results:
        if r.get("peer_warning"):
            lines.append(f"- WARNING {r['name']}: {r['peer_warning']}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=DEFAULT_FOLDER, help="folder built by corpus.py (default %(default)s)")
    parser.add_argument("--peers", default=str(HERE / "peers.json"), help="peers.json (default %(default)s)")
    parser.add_argument("--grunet-root", default=str(HERE.parent), help="grunet checkout to run (default %(default)s)")
    parser.add_argument("--python", default=sys.executable, help="interpreter with grunet's dependencies")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="dev")
    parser.add_argument("--only", help="comma-separated file names (manifest `name`)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds; figures are means over them")
    parser.add_argument("--final-fit", action="store_true", help="also run with --test-size 0")
    parser.add_argument("--extra", action="append", default=[], help="also run with these flags (repeatable)")
    parser.add_argument("--no-defaults", action="store_true", help="skip the plain-defaults variant")
    parser.add_argument("--jobs", type=int, default=1, help="files run at once (default 1; 2 cores here)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per grunet command (default %(default)s)")
    parser.add_argument("--json", help="also write the results (figures, errors, seconds) to this file")
    parser.add_argument("--keep-runs", help="copy each run folder here (FILE/VARIANT-SEED/; its files but the models)")
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",") if s != ""]
    root = Path(args.grunet_root).resolve()
    if not (root / "grunet" / "__main__.py").is_file():
        raise SystemExit(f"--grunet-root {root} has no grunet/__main__.py")
    manifest = load_manifest(args.corpus)
    peers = json.loads(Path(args.peers).read_text()) if Path(args.peers).is_file() else {}
    if not peers:
        print(f"warning: no {args.peers}: peers' columns left empty (run benchmarks/peers.py)", file=sys.stderr)
    variants = {} if args.no_defaults else {"defaults": []}
    if args.final_fit:
        variants["final-fit"] = ["--test-size", "0"]
    for i, extra in enumerate(args.extra):
        variants["extra" if i == 0 else f"extra{i + 1}"] = shlex.split(extra)
    if not variants:
        raise SystemExit("nothing to run: --no-defaults without --final-fit or --extra")
    only = set(args.only.split(",")) if args.only else None
    entries = [e for e in manifest["files"] if not only or e["name"] in only]
    if only and len(entries) < len(only):
        raise SystemExit(f"not in the manifest: {sorted(only - {e['name'] for e in entries})}")
    commit = subprocess.run(
        ["git", "-C", str(root), "log", "-1", "--format=%h", "--", "grunet"], capture_output=True, text=True
    ).stdout.strip()  # the last commit that changed grunet/
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--", "grunet"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"grunet from {root} at {commit or '?'}{' (+ uncommitted changes in grunet/)' if dirty else ''}; "
        f"python {args.python}; corpus {args.corpus}; {len(entries)} files",
        file=sys.stderr,
    )
    started = time.perf_counter()

    def one(entry):
        t0 = time.perf_counter()
        res = evaluate(args, entry, peers, variants, root)
        status = "; ".join(
            f"{lab} " + (v["error"] if "error" in v else f"{v['rmse']:.4g} ratio {v.get('ratio', float('nan')):.2f}")
            for lab, v in res["variants"].items()
        )
        print(f"{entry['name']:>20}: {status} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
        return res

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, entries))
    print(table(results, variants, args.protocol, args.seeds))
    print(f"wall time {time.perf_counter() - started:.0f}s, grunet {root} at {commit}")
    if args.json:
        for r in results:
            for v in r["variants"].values():
                v.pop("per", None)
        Path(args.json).write_text(
            json.dumps(
                dict(
                    grunet_commit=commit, protocol=args.protocol, seeds=args.seeds, variants=variants, results=results
                ),
                indent=1,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
