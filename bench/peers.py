"""Peer scorecard tools on the public credit data sets, fold for fold.

    python -m bench.peers [--datasets german taiwan ...] [--peers optbinning toad ...]
                          [--splits 5] [--repeats 2] [--report]

Each peer is used the way its documentation shows, with its defaults: optbinning's
`Scorecard`, toad's chi-merge binning + WoE + logistic regression, scorecardpy's `woebin` +
`woebin_ply` + logistic regression, and a default LightGBM. The data sets are read through
the mapping files in ``src/pentascore/model/datasets/`` (the same columns pentascore sees: ids
and protected attributes such as sex are dropped). Prints AUC, KS and fit time per peer and
data set; a peer that fails is reported with its error, not allowed to stop the run.
``--report`` also writes the table into docs/benchmarks.md.

Data: UCI Statlog German Credit (Hofmann 1994); UCI default of credit card clients (Yeh & Lien
2009); HMEQ (Baesens et al., Credit Risk Analytics, 2016); Lending Club 2016Q1 (R modeldata);
CreditScoring (Belanche, R modeldata); UCI Statlog Australian Credit Approval (Quinlan).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import RepeatedStratifiedKFold

DATASETS = Path(__file__).resolve().parent.parent / "src" / "pentascore" / "model" / "datasets"
BENCHMARK_SET = ("german", "taiwan", "hmeq", "lending_club", "belanche", "australian")

Peer = Callable[[pd.DataFrame, np.ndarray, pd.DataFrame], np.ndarray]


# --- data -------------------------------------------------------------------------------------


def mapping(name: str) -> dict[str, object]:
    """The mapping file ``name``.yaml, parsed."""
    import yaml  # lazily: the scorecardpy side interpreter imports this module without it

    path = DATASETS / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in DATASETS.glob("*.yaml")))
        raise SystemExit(f"no mapping {path}; known: {known}")
    loaded: dict[str, object] = yaml.safe_load(path.read_text())
    return loaded


def load_dataset(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Inputs (every column placed in a dimension) and outcome (1 = bad) of data set ``name``.

    Numeric columns come as float64, the others as object dtype with NaN for missing values.
    """
    spec = mapping(name)
    table = (DATASETS / str(spec["table"])).resolve()
    if not table.exists():
        raise SystemExit(f"data file {table} is missing (named by {name}.yaml)")
    read = spec.get("read") or {}
    assert isinstance(read, dict)
    frame = pd.read_csv(table, **read)
    dimensions = spec["dimensions"]
    assert isinstance(dimensions, dict)
    columns = [c for names in dimensions.values() for c in (names or [])]
    y = (frame[str(spec["target"])].astype(str) == str(spec["bad"])).to_numpy(dtype=np.int64)
    x = frame[columns].copy()
    for c in columns:
        numeric = pd.api.types.is_numeric_dtype(x[c]) and not pd.api.types.is_bool_dtype(x[c])
        x[c] = x[c].astype("float64") if numeric else x[c].astype(object)
    return x, y


def folds(
    y: np.ndarray, n_splits: int = 5, n_repeats: int = 2, seed: int = 2026
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row positions of a repeated stratified k-fold split."""
    splitter = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(np.zeros(len(y)), y)]


def categorical(x: pd.DataFrame) -> list[str]:
    return [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]


# --- peers ------------------------------------------------------------------------------------


def optbinning_peer(xtr: pd.DataFrame, ytr: np.ndarray, xte: pd.DataFrame) -> np.ndarray:
    """optbinning.Scorecard: BinningProcess with defaults and a default LogisticRegression."""
    from optbinning import BinningProcess, Scorecard

    binning = BinningProcess(list(xtr.columns))
    card = Scorecard(binning_process=binning, estimator=LogisticRegression())
    card.fit(xtr, ytr)
    return np.asarray(card.predict_proba(xte)[:, 1], dtype=float)


def toad_peer(xtr: pd.DataFrame, ytr: np.ndarray, xte: pd.DataFrame) -> np.ndarray:
    """toad as in its tutorial: chi-merge Combiner (min_samples=0.05), WOETransformer, LR."""
    import toad

    combiner = toad.transform.Combiner()
    combiner.fit(xtr, ytr, method="chi", min_samples=0.05)
    woe = toad.transform.WOETransformer()
    wtr = woe.fit_transform(combiner.transform(xtr), ytr)
    wte = woe.transform(combiner.transform(xte))
    model = LogisticRegression().fit(wtr, ytr)
    return np.asarray(model.predict_proba(wte[wtr.columns])[:, 1], dtype=float)


def scorecardpy_peer(xtr: pd.DataFrame, ytr: np.ndarray, xte: pd.DataFrame) -> np.ndarray:
    """scorecardpy as in its README: woebin, woebin_ply, L1 logistic regression (C=0.9, saga).

    ``check_cate_num=False`` only skips woebin's interactive "continue? 1: yes 2: no" prompt
    (asked when a text column has 50 or more values, e.g. Lending Club's state), i.e. answers
    yes. scorecardpy 0.1.9.7 does not run on pandas 3 (it uses pandas APIs that 3.0 removed:
    ``to_numeric(errors="ignore")``, ``.loc`` setting a column to another dtype), so under
    pandas 3 it runs in a separate interpreter with pandas 2 when one is set up (see
    `scorecardpy_python`); otherwise it runs here and fails with pandas' error.
    """
    python = scorecardpy_python()
    if python is not None:
        return _in_subprocess(python, "scorecardpy", xtr, ytr, xte)
    return _scorecardpy(xtr, ytr, xte)


def _scorecardpy(xtr: pd.DataFrame, ytr: np.ndarray, xte: pd.DataFrame) -> np.ndarray:
    import scorecardpy as sc

    train = xtr.assign(bad=ytr)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints progress lines
        bins = sc.woebin(train, y="bad", print_step=0, check_cate_num=False)
        wtr = sc.woebin_ply(train, bins, print_step=0)
        wte = sc.woebin_ply(xte, bins, print_step=0)
    features = [c for c in wtr.columns if c != "bad"]
    # The README's LogisticRegression(penalty='l1', C=0.9, solver='saga'), in scikit-learn
    # 1.8+ spelling (`penalty` is deprecated).
    model = LogisticRegression(l1_ratio=1.0, C=0.9, solver="saga")
    model.fit(wtr[features], ytr)
    return np.asarray(model.predict_proba(wte[features])[:, 1], dtype=float)


# scorecardpy under pandas 3: a side environment with pandas 2, made once with
#   python3.11 -m venv bench/.out/scorecardpy-venv
#   bench/.out/scorecardpy-venv/bin/pip install scorecardpy==0.1.9.7 pandas==2.2.3 \
#       scikit-learn==1.9.1
# or named by the environment variable PENTASCORE_SCORECARDPY_PYTHON.
SIDE_PYTHON = Path(__file__).resolve().parent / ".out" / "scorecardpy-venv" / "bin" / "python"


def scorecardpy_python() -> Path | None:
    """The interpreter scorecardpy runs in, or None to run it in this process.

    None under pandas 2 (scorecardpy's own pandas); under pandas 3 the side environment if
    it exists.
    """
    if int(pd.__version__.split(".")[0]) < 3:
        return None
    named = os.environ.get("PENTASCORE_SCORECARDPY_PYTHON")
    if named:
        return Path(named)
    return SIDE_PYTHON if SIDE_PYTHON.exists() else None


def side_version(python: Path) -> str:
    """The pandas version of the side interpreter ``python``."""
    done = subprocess.run(
        [str(python), "-c", "import pandas; print(pandas.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"pandas {done.stdout.strip()}" if done.returncode == 0 else "unknown pandas"


_WORKERS: dict[str, Peer] = {"scorecardpy": _scorecardpy}


def _in_subprocess(
    python: Path, peer: str, xtr: pd.DataFrame, ytr: np.ndarray, xte: pd.DataFrame
) -> np.ndarray:
    """Runs ``_WORKERS[peer]`` under ``python``; columns travel as numpy arrays (npz)."""
    with tempfile.TemporaryDirectory(prefix="pentascore-peer-") as tmp:
        inputs, output = Path(tmp) / "in.npz", Path(tmp) / "out.npy"
        arrays: dict[str, np.ndarray] = {
            "columns": np.asarray(list(xtr.columns), dtype=object),
            "ytr": np.asarray(ytr),
        }
        for i, c in enumerate(xtr.columns):
            arrays[f"tr{i}"], arrays[f"te{i}"] = xtr[c].to_numpy(), xte[c].to_numpy()
        np.savez(inputs, **arrays)
        code = "import sys; from bench.peers import _worker; _worker(*sys.argv[1:])"
        done = subprocess.run(
            [str(python), "-c", code, peer, str(inputs), str(output)],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            raise RuntimeError(f"{python.name} ({python}): {lines[-1] if lines else 'failed'}")
        return np.asarray(np.load(output), dtype=float)


def _worker(peer: str, inputs: str, output: str) -> None:
    """The side interpreter's end of `_in_subprocess`."""
    warnings.simplefilter("ignore")
    data = np.load(inputs, allow_pickle=True)
    columns = [str(c) for c in data["columns"]]
    xtr = pd.DataFrame({c: data[f"tr{i}"] for i, c in enumerate(columns)})
    xte = pd.DataFrame({c: data[f"te{i}"] for i, c in enumerate(columns)})
    np.save(output, _WORKERS[peer](xtr, data["ytr"], xte))


def lightgbm_peer(xtr: pd.DataFrame, ytr: np.ndarray, xte: pd.DataFrame) -> np.ndarray:
    """A default LGBMClassifier; text columns as pandas category with the training categories."""
    import lightgbm

    xtr, xte = xtr.copy(), xte.copy()
    for c in categorical(xtr):
        kind = pd.CategoricalDtype(sorted(xtr[c].dropna().unique()))
        xtr[c], xte[c] = xtr[c].astype(kind), xte[c].astype(kind)
    # One thread, like the other peers: on a small shared machine OpenMP's spinning threads
    # made fit times swing from 0.1 s to 25 s; the model is the same.
    model = lightgbm.LGBMClassifier(verbose=-1, n_jobs=1)
    model.fit(xtr, ytr)
    return np.asarray(model.predict_proba(xte)[:, 1], dtype=float)


PEERS: dict[str, Peer] = {
    "optbinning": optbinning_peer,
    "toad": toad_peer,
    "scorecardpy": scorecardpy_peer,
    "lightgbm": lightgbm_peer,
}


def run_peer(
    name: str, xtr: pd.DataFrame, ytr: np.ndarray, xte: pd.DataFrame
) -> tuple[np.ndarray | None, str | None]:
    """(probability of bad on ``xte``, None), or (None, a one-line error) if the peer fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proba = PEERS[name](xtr, ytr, xte)
        if proba.shape != (len(xte),) or not np.isfinite(proba).all():
            return None, f"bad output: shape {proba.shape}, {int((~np.isfinite(proba)).sum())} NaN"
        return proba, None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # a failing peer is a result, not a crash
        # BaseException: toad's Rust chi-merge panics (pyo3 PanicException) on NaN.
        text = str(err).strip().splitlines()
        message = text[0] if text else ""
        return None, f"{type(err).__name__}: {message}"[:200]


def ks(y: np.ndarray, p: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def installed(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", nargs="+", default=list(BENCHMARK_SET))
    parser.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--report", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args()
    versions = ", ".join(f"{p} {installed(p)}" for p in args.peers)
    print(f"peers: {versions}; pandas {pd.__version__}, numpy {np.__version__}", flush=True)
    rows = []
    for dataset in args.datasets:
        x, y = load_dataset(dataset)
        splits = folds(y, args.splits, args.repeats, args.seed)
        print(
            f"\n{dataset}: {len(y):,} rows, {x.shape[1]} columns ({len(categorical(x))} text), "
            f"{y.mean():.1%} bad, {int(x.isna().any(axis=1).sum()):,} rows with a missing value",
            flush=True,
        )
        for peer in args.peers:
            aucs, kss, secs, errors = [], [], [], []
            for train, test in splits:
                xtr, xte = x.iloc[train].reset_index(drop=True), x.iloc[test].reset_index(drop=True)
                start = time.perf_counter()
                proba, error = run_peer(peer, xtr, y[train], xte)
                secs.append(time.perf_counter() - start)
                if proba is None:
                    errors.append(str(error))
                    continue
                aucs.append(roc_auc_score(y[test], proba))
                kss.append(ks(y[test], proba))
            ok = f"{len(aucs)}/{len(splits)}"
            if aucs:
                auc = f"{np.mean(aucs):.3f} ± {np.std(aucs):.3f}"
                row = f"| {dataset} | {peer} | {auc} | {np.mean(kss):.3f} | {np.mean(secs):.2f} |"
            else:
                row = f"| {dataset} | {peer} | fails | | {np.mean(secs):.2f} |"
            distinct = "; ".join(f"{e} (x{errors.count(e)})" for e in dict.fromkeys(errors))
            row += f" {ok} | {distinct} |"
            rows.append(row)
            print(row, flush=True)
    table = "\n".join(
        [
            "| data set | peer | AUC mean ± sd | KS mean | s per fold | folds ok | error |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(f"\n{table}")
    if args.report:
        from bench._report import write_section

        body = (
            f"Peer scorecard tools with their documented defaults on the public credit data "
            f"sets ({args.splits}-fold stratified, {args.repeats} repeats, seed {args.seed}; "
            f"ids and sex/marital columns dropped per the mapping files). {versions}.\n\n"
            f"{table}"
        )
        write_section("Peer scorecards on public credit data", body)


if __name__ == "__main__":
    main()
