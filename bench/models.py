"""pentascore's models against the peer tools, fold for fold, on public credit data (issue 4).

    .venv/bin/python -m bench.models [--datasets german taiwan ...] [--all] [--quick]
                                     [--gbdt-threads 1] [--no-report] [--render JSON]

On every data set, every model sees the same folds (`pentascore.model.validate.folds`: stratified
5-fold, 2 repeats, seed 2026; `bench.peers.folds` is checked to give the same ones) and the same
rows in the same order (pentascore's `table_dataset` and `bench.peers.load_dataset` read the same
CSV through the same mapping file; their outcomes are checked to be equal). The models:

- pentascore's scorecard with learned and with published (35/25/20/15/5) allocation (one fit
  per fold, seed ``seed + fold``, allocated both ways), and pentascore's GBDT;
- the peers of `bench.peers`: optbinning's Scorecard, toad, scorecardpy (documented defaults)
  and a default LightGBM.

Reported per data set and model: AUC (mean and sample sd over folds), KS, Gini, the folds that
ran, seconds per fold, and for pentascore's models whether ``score == base + sum of points``
held for every row of every fold with every score in 350-950. Then the goal checks: (a) the
better pentascore scorecard beats every peer scorecard, (b) pentascore's better model beats
LightGBM. Writes docs/benchmarks.md unless ``--quick`` or ``--no-report``; the raw results go
to bench/.out/models.json, which ``--render`` turns into the report again without rerunning.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from bench import peers
from bench._report import write_section
from pentascore.model.dataset import Dataset, shipped_mapping_path, table_dataset
from pentascore.model.gbdt import fit_gbdt
from pentascore.model.metrics import auc, ks
from pentascore.model.scale import MAX_SCORE, MIN_SCORE
from pentascore.model.scorecard import Allocation, allocate, fit_scorecard
from pentascore.model.validate import folds

BENCHMARK_SET = ("german", "taiwan", "hmeq", "lending_club")
EXTRA_SETS = ("belanche",)
K, REPEATS, SEED = 5, 2, 2026

OURS = {
    "learned": "pentascore scorecard, learned",
    "published": "pentascore scorecard, published",
    "gbdt": "pentascore GBDT",
}
PEER_SCORECARDS = ("optbinning", "toad", "scorecardpy")
PEER_LABELS = {
    "optbinning": "optbinning Scorecard",
    "toad": "toad",
    "scorecardpy": "scorecardpy",
    "lightgbm": "LightGBM defaults",
}
LABELS = {**OURS, **PEER_LABELS}
T = TypeVar("T")
RESULTS = Path(__file__).resolve().parent / ".out" / "models.json"

ORIGINS = (
    "UCI Statlog German Credit (Hofmann 1994); UCI default of credit card clients, Taiwan (Yeh "
    "& Lien 2009); HMEQ home-equity loans (SAS sample data, used in Baesens et al., *Credit Risk "
    "Analytics*, 2016); Lending Club loans of 2016Q1 as subset in R's modeldata package; "
    "CreditScoring (Belanche, modeldata `credit_data`)"
)


@dataclass
class Result:
    """One model on one data set, fold by fold."""

    auc: list[float] = field(default_factory=list)
    ks: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fold_auc: dict[int, float] = field(default_factory=dict)
    # pentascore's models only: decomposition and range checks, and warnings raised.
    exact: bool | None = None
    problems: list[str] = field(default_factory=list)
    warned: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fold_auc"] = {str(k): v for k, v in self.fold_auc.items()}
        data["warned"] = dict(self.warned)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        out = cls(**data)
        out.fold_auc = {int(k): v for k, v in data["fold_auc"].items()}
        out.warned = Counter(data["warned"])
        return out

    @property
    def ran(self) -> bool:
        return bool(self.auc)

    @property
    def auc_mean(self) -> float:
        return float(np.mean(self.auc)) if self.auc else float("nan")

    def add(self, fold: int, bad: np.ndarray, risk: np.ndarray, seconds: float) -> None:
        self.auc.append(auc(bad, risk))
        self.ks.append(ks(bad, risk))
        self.fold_auc[fold] = self.auc[-1]
        self.seconds.append(seconds)

    def folds_cell(self, total: int) -> str:
        cell = f"{len(self.auc)}/{total}"
        if self.errors:
            distinct = "; ".join(f"{e} (x{n})" for e, n in Counter(self.errors).items())
            cell += f", fails: {distinct}"
        return cell


# --- pentascore's models ----------------------------------------------------------------------


def check(result: Result, fold: int, base: int, scores: np.ndarray, points: np.ndarray) -> None:
    """Records whether ``scores == base + points.sum(axis=1)`` and 350 <= scores <= 950."""
    exact = (
        scores.shape == (points.shape[0],)
        and np.issubdtype(scores.dtype, np.integer)
        and np.issubdtype(points.dtype, np.integer)
        and bool(np.array_equal(scores, base + points.sum(axis=1)))
    )
    if not exact:
        wrong = int(np.sum(scores != base + points.sum(axis=1)))
        result.problems.append(
            f"fold {fold}: decomposition off on {wrong} of {len(scores)} rows "
            f"(scores {scores.dtype}, points {points.dtype})"
        )
    outside = int(np.sum((scores < MIN_SCORE) | (scores > MAX_SCORE)))
    if outside:
        result.problems.append(
            f"fold {fold}: {outside} scores outside {MIN_SCORE}-{MAX_SCORE} "
            f"(min {scores.min()}, max {scores.max()})"
        )
    result.exact = (result.exact is not False) and exact and not outside


def guarded(result: Result, fold: int, step: Callable[[], T]) -> T | None:
    """``step()``, with its warnings counted and an exception recorded (and its traceback
    printed) instead of raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return step()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as err:
            message = (str(err).strip().splitlines() or [""])[0]
            result.errors.append(f"{type(err).__name__}: {message}"[:200])
            print(f"  ! fold {fold}: {result.errors[-1]}\n{traceback.format_exc()}", flush=True)
            return None
        finally:
            for w in caught:
                text = str(w.message).strip().splitlines()
                result.warned[f"{w.category.__name__}: {text[0] if text else ''}"[:160]] += 1


def run_ours(
    results: dict[str, Result],
    fold: int,
    train: Dataset,
    test: Dataset,
    seed: int,
    threads: int,
) -> None:
    """pentascore's scorecard (fit once, allocated both ways) and GBDT on one fold."""
    start = time.perf_counter()
    fit = guarded(results["learned"], fold, lambda: fit_scorecard(train, seed=seed))
    fit_seconds = time.perf_counter() - start
    if fit is None:  # the published variant fails with it
        results["published"].errors.append(results["learned"].errors[-1])
    else:
        for key, allocation in (
            ("learned", Allocation.LEARNED),
            ("published", Allocation.PUBLISHED),
        ):
            start = time.perf_counter()
            card = guarded(results[key], fold, lambda a=allocation: allocate(fit, train, a))
            scored = (
                guarded(results[key], fold, lambda c=card: c.score(test.frame)) if card else None
            )
            if card is not None and scored is not None:
                check(results[key], fold, card.base, *scored)
                seconds = fit_seconds + time.perf_counter() - start
                results[key].add(fold, test.bad, -scored[0], seconds)
    start = time.perf_counter()
    model = guarded(
        results["gbdt"], fold, lambda: fit_gbdt(train, seed=seed, params={"num_threads": threads})
    )
    scored = guarded(results["gbdt"], fold, lambda: model.score(test.frame)) if model else None
    if model is not None and scored is not None:
        check(results["gbdt"], fold, model.base, *scored)
        results["gbdt"].add(fold, test.bad, -scored[0], time.perf_counter() - start)


# --- one data set -----------------------------------------------------------------------------


def run_dataset(
    name: str, repeats: int, seed: int, threads: int
) -> tuple[str, dict[str, Result], int]:
    """(a one-line description, results by model, number of folds) for data set ``name``."""
    data, _ = table_dataset(shipped_mapping_path(name))
    x, y = peers.load_dataset(name)
    if not np.array_equal(data.bad, y):
        raise SystemExit(f"{name}: pentascore and the peers read different outcomes")
    if sorted(x.columns) != sorted(data.frame.columns):
        raise SystemExit(f"{name}: pentascore and the peers read different columns")
    splits = folds(data.bad, K, repeats, seed)
    theirs = peers.folds(y, K, repeats, seed)
    if len(splits) != len(theirs) or not all(
        np.array_equal(a, c) and np.array_equal(b, d)
        for (a, b), (c, d) in zip(splits, theirs, strict=True)
    ):
        raise SystemExit(f"{name}: bench.peers.folds and pentascore's folds differ")
    text = int(sum(not pd.api.types.is_numeric_dtype(x[c]) for c in x.columns))
    about = (
        f"{name}: {len(y):,} rows, {x.shape[1]} columns ({text} text), {y.mean():.1%} bad, "
        f"{len(splits)} folds"
    )
    print(f"\n{about}", flush=True)
    results = {key: Result() for key in (*OURS, *PEER_LABELS)}
    for i, (train_rows, test_rows) in enumerate(splits):
        lap = time.perf_counter()
        run_ours(results, i, data.subset(train_rows), data.subset(test_rows), seed + i, threads)
        xtr = x.iloc[train_rows].reset_index(drop=True)
        xte = x.iloc[test_rows].reset_index(drop=True)
        for peer in PEER_LABELS:
            start = time.perf_counter()
            proba, error = peers.run_peer(peer, xtr, y[train_rows], xte)
            if proba is None:
                results[peer].errors.append(str(error))
                results[peer].seconds.append(time.perf_counter() - start)
            else:
                results[peer].add(i, y[test_rows], proba, time.perf_counter() - start)
        fold_aucs = ", ".join(
            f"{key} {r.fold_auc[i]:.3f}" for key, r in results.items() if i in r.fold_auc
        )
        print(f"  fold {i + 1}/{len(splits)} ({time.perf_counter() - lap:.0f} s): {fold_aucs}")
    return about, results, len(splits)


# --- report -----------------------------------------------------------------------------------


def table(runs: dict[str, tuple[str, dict[str, Result], int]]) -> str:
    lines = [
        "| data set | model | AUC mean | AUC sd | KS mean | Gini | folds | decomposition exact "
        "| s per fold |",
        "|---|---|---:|---:|---:|---:|---|---|---:|",
    ]
    for name, (_, results, total) in runs.items():
        for key, r in results.items():
            exact = "—" if key in PEER_LABELS else ("yes" if r.exact and r.ran else "no")
            secs = f"{np.mean(r.seconds):.2f}" if r.seconds else ""
            if r.ran:
                sd = float(np.std(r.auc, ddof=1)) if len(r.auc) > 1 else 0.0
                figures = f"{r.auc_mean:.4f} | {sd:.4f} | {np.mean(r.ks):.4f} | "
                figures += f"{2 * r.auc_mean - 1:.4f}"
            else:
                figures = "— | — | — | —"
            lines.append(
                f"| {name} | {LABELS[key]} | {figures} | {r.folds_cell(total)} | {exact} | {secs} |"
            )
    return "\n".join(lines)


def wins(ours: Result, theirs: Result) -> str:
    """Folds (run by both) on which ``ours`` has the higher AUC."""
    shared = sorted(set(ours.fold_auc) & set(theirs.fold_auc))
    won = sum(ours.fold_auc[f] > theirs.fold_auc[f] for f in shared)
    return f"{won}/{len(shared)} folds"


def goal_checks(runs: dict[str, tuple[str, dict[str, Result], int]]) -> tuple[list[str], bool]:
    """Lines of the two goal checks per data set, and whether all of them pass.

    A peer that fails on every fold of a data set cannot be compared there; the line says so.
    Margins are differences of mean AUC over the folds each model ran.
    """
    lines, passed = [], True
    for name, (_, r, total) in runs.items():
        ran = [k for k in ("learned", "published") if r[k].ran]
        if not ran:
            lines.append(f"- **{name}**: (a) no: no pentascore scorecard ran")
            passed = False
            continue
        best = max(ran, key=lambda k: r[k].auc_mean)
        rivals = [p for p in PEER_SCORECARDS if r[p].ran]
        if rivals:
            top = max(rivals, key=lambda p: r[p].auc_mean)
            margin = r[best].auc_mean - r[top].auc_mean
            ok = margin > 0
            each = ", ".join(
                f"{PEER_LABELS[p]} {r[best].auc_mean - r[p].auc_mean:+.4f}" for p in rivals
            )
            a = (
                f"(a) {'yes' if ok else 'no'}: {OURS[best]} AUC {r[best].auc_mean:.4f} vs best "
                f"peer scorecard {PEER_LABELS[top]} {r[top].auc_mean:.4f}, margin {margin:+.4f}, "
                f"wins {wins(r[best], r[top])}; margin over each: {each}"
            )
        else:
            ok, a = False, "(a) no: no peer scorecard ran"
        failed = [p for p in PEER_SCORECARDS if not r[p].ran]
        partial = [p for p in PEER_SCORECARDS if r[p].ran and len(r[p].auc) < total]
        if failed:
            a += f"; {', '.join(PEER_LABELS[p] for p in failed)} failed on every fold"
        if partial:
            a += f"; {', '.join(PEER_LABELS[p] for p in partial)} ran on some folds only"
        if len(r[best].auc) < total:
            a += f"; {OURS[best]} ran on {len(r[best].auc)}/{total} folds"
        passed &= ok
        mine = max([*ran, *(["gbdt"] if r["gbdt"].ran else [])], key=lambda k: r[k].auc_mean)
        if r["lightgbm"].ran:
            margin = r[mine].auc_mean - r["lightgbm"].auc_mean
            ok = margin > 0
            b = (
                f"(b) {'yes' if ok else 'no'}: {OURS[mine]} AUC {r[mine].auc_mean:.4f} vs "
                f"LightGBM defaults {r['lightgbm'].auc_mean:.4f}, margin {margin:+.4f}, "
                f"wins {wins(r[mine], r['lightgbm'])}"
            )
        else:
            ok, b = False, "(b) no: LightGBM did not run"
        passed &= ok
        lines.append(f"- **{name}**: {a}. {b}.")
    return lines, passed


def notes(runs: dict[str, tuple[str, dict[str, Result], int]]) -> list[str]:
    """Problems and warnings of pentascore's models, one line each."""
    out = []
    for name, (_, results, _) in runs.items():
        for key in OURS:
            r = results[key]
            for problem in r.problems:
                out.append(f"- {name}, {OURS[key]}: {problem}")
            for error, n in Counter(r.errors).items():
                out.append(f"- {name}, {OURS[key]}: raised {error} (x{n})")
            for warning, n in r.warned.items():
                out.append(f"- {name}, {OURS[key]}: warning {warning} (x{n})")
    return out


def command(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python -m bench.models"]
    if args.all:
        parts.append("--all")
    elif list(args.datasets) != list(BENCHMARK_SET):
        parts.append("--datasets " + " ".join(args.datasets))
    if args.quick:
        parts.append("--quick")
    if args.seed != SEED:
        parts.append(f"--seed {args.seed}")
    if args.gbdt_threads != 1:
        parts.append(f"--gbdt-threads {args.gbdt_threads}")
    return " ".join(parts)


def source() -> str:
    """The git commit and a hash of pentascore's source as it is on disk (it may be uncommitted)."""
    import hashlib
    import subprocess

    src = Path(__file__).resolve().parent.parent / "src" / "pentascore"
    digest = hashlib.sha256()
    for path in sorted([*src.rglob("*.py"), *src.rglob("*.yaml")]):
        digest.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes())
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=src
    ).stdout.strip()
    return f"commit {head or '?'}, src/pentascore sha256 {digest.hexdigest()[:12]}"


def versions() -> str:
    side = peers.scorecardpy_python()
    names = ["pentascore", "optbinning", "toad", "scorecardpy", "lightgbm", "scikit-learn"]
    text = ", ".join(f"{p} {peers.installed(p)}" for p in names)
    text += f", pandas {pd.__version__}, numpy {np.__version__}"
    if side is not None:
        root = Path(__file__).resolve().parent.parent
        where = side.relative_to(root) if side.is_relative_to(root) else side
        text += (
            "; scorecardpy does not run on pandas 3 and runs in "
            f"`{where}` with {peers.side_version(side)} (set up as `bench/peers.py` says)"
        )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    choices = [*BENCHMARK_SET, *EXTRA_SETS, "australian"]
    parser.add_argument("--datasets", nargs="+", default=list(BENCHMARK_SET), choices=choices)
    parser.add_argument("--all", action="store_true", help="the benchmark set and belanche")
    parser.add_argument("--quick", action="store_true", help="one repeat, no report")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--gbdt-threads",
        type=int,
        default=1,
        help="LightGBM threads of pentascore's GBDT (same model; its own default is 2)",
    )
    parser.add_argument("--no-report", action="store_true", help="leave docs/benchmarks.md")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help=f"report the results a run saved (it saves them in {RESULTS}) instead of running",
    )
    args = parser.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text())
    else:
        saved = run(args)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(saved, indent=1))
    runs = {
        name: (
            run_["about"],
            {key: Result.from_json(r) for key, r in run_["results"].items()},
            run_["folds"],
        )
        for name, run_ in saved["runs"].items()
    }
    rows = table(runs)
    checks, passed = goal_checks(runs)
    problems = notes(runs)
    print(f"\n{rows}\n\nGoal checks ({'all pass' if passed else 'NOT all pass'}):")
    print("\n".join(checks))
    print("\npentascore's models: " + ("\n" + "\n".join(problems) if problems else "no problems"))
    print(f"\ntotal {saved['minutes']:.1f} min; pentascore source: {saved.get('source')}")
    if saved["quick"] or args.no_report:
        return
    body = "\n".join(
        [
            f"`{saved['command']}` ({saved['minutes']:.0f} min). Every model sees the same folds "
            f"(stratified {K}-fold, {saved['repeats']} repeats, seed {saved['seed']}) and the "
            "same rows: pentascore and the peers read the same CSV through the mapping files in "
            "`src/pentascore/model/datasets/` (ids and sex/marital-status columns dropped). "
            "pentascore's models are fitted with seed `seed + fold`; the peers use their "
            "documented defaults (see `bench/peers.py`). AUC sd is the sample sd over folds; "
            "Gini = 2·AUC − 1. *Decomposition exact*: on every fold, every test row's score is "
            "a whole number in 350–950 equal to the model's base plus the sum of its points. "
            "The two scorecard rows share one fit per fold, counted in both times. "
            f"pentascore's GBDT runs with `num_threads={saved['gbdt_threads']}` "
            "(`--gbdt-threads`): the thread count changes the speed, not the trees, and on "
            "this shared 2-core machine two OpenMP threads made a fit 20-40x slower.",
            "",
            f"Data: {ORIGINS}. Versions: {saved['versions']}. pentascore source: "
            f"{saved.get('source', 'not recorded')}.",
            "",
            *(f"- {about}" for about, _, _ in runs.values()),
            "",
            rows,
            "",
            "Goal checks: (a) pentascore's better scorecard beats every peer scorecard; "
            "(b) pentascore's better model (scorecard or GBDT) beats LightGBM with its defaults. "
            f"{'All pass.' if passed else 'Not all pass.'}",
            "",
            *checks,
            "",
            "Warnings and problems of pentascore's models: " + ("none." if not problems else ""),
            *problems,
        ]
    )
    path = write_section("Models against the peers (issue 4)", body)
    print(f"wrote {path}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Runs every model on every data set; the results as JSON-ready data."""
    if args.all:
        args.datasets = [*BENCHMARK_SET, *EXTRA_SETS]
    repeats = 1 if args.quick else REPEATS
    print(versions(), flush=True)
    code = source()
    print(f"pentascore source: {code}", flush=True)
    began = time.perf_counter()
    runs = {}
    for name in args.datasets:
        about, results, total = run_dataset(name, repeats, args.seed, args.gbdt_threads)
        runs[name] = {
            "about": about,
            "folds": total,
            "results": {key: r.to_json() for key, r in results.items()},
        }
    # Compare the source hash only: a commit made during the run changes HEAD, not the code.
    if source().split(", ")[1] != code.split(", ")[1]:
        print(f"\n!! pentascore's source changed during the run (now {source()})", flush=True)
        now = source().split(", ")[1]
        code += f" (the files changed to {now} during the run, after it had imported them)"
    return {
        "source": code,
        "command": command(args),
        "quick": args.quick,
        "repeats": repeats,
        "seed": args.seed,
        "gbdt_threads": args.gbdt_threads,
        "minutes": (time.perf_counter() - began) / 60,
        "versions": versions(),
        "runs": runs,
    }


if __name__ == "__main__":
    main()
