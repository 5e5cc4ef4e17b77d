"""The model card: a markdown page saying what a model was trained on, how it was validated,
how its points are allocated, and how each band's bad rate came out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pentascore.core.types import DEFAULT_WEIGHTS, Dimension
from pentascore.model.scale import BANDS, MAX_SCORE
from pentascore.model.scorecard import Scorecard

if TYPE_CHECKING:
    from pentascore.model.artifact import ModelDoc
    from pentascore.model.train import Model


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def model_card(model: Model, doc: ModelDoc) -> str:
    data = doc.trained_on
    v = doc.validation
    lines = [
        f"# Model card: {doc.version}",
        "",
        f"- Kind: **{doc.kind}**"
        + (f", {model.allocation.value} allocation" if isinstance(model, Scorecard) else ""),
        f"- Created: {doc.created_at.isoformat()}",
        f"- Trained on: `{data.get('source')}`, {data.get('rows')} rows, "
        f"{data.get('bads')} bad ({_pct(data.get('bad_rate'))})"
        + (f", as of {data['as_of']}" if data.get("as_of") else ""),
        f"- Data hash (sha256): `{data.get('data_hash')}`",
        f"- Validation: {v['method']}, {v['k']} folds x {v['repeats']} repeats, seed {v['seed']}",
        "",
        "## Metrics (cross-validated, mean over folds)",
        "",
        "| variant | AUC | sd | Gini | KS | Brier | bands monotone |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in doc.metrics.items():
        mark = " (this model)" if name == doc.headline else ""
        lines.append(
            f"| {name}{mark} | {m['auc']:.4f} | {m['auc_sd']:.4f} | {m['gini']:.4f} | "
            f"{m['ks']:.4f} | {m['brier']:.4f} | {'yes' if m['bands_monotone'] else 'NO'} |"
        )
    lines += ["", "## Dimensions", "", "| dimension | published weight | learned share |"]
    lines.append("|---|---|---|")
    for d in Dimension:
        lines.append(f"| {d.value} | {_pct(DEFAULT_WEIGHTS[d])} | {_pct(doc.learned_shares[d])} |")
    lines += [""]
    if isinstance(model, Scorecard):
        best = model.dimension_max()
        lines += [
            "Best attainable points per dimension in this model: "
            + ", ".join(f"{d.value} {best[d]}" for d in Dimension)
            + f" (base {model.base}, so the top score is {model.base + sum(best.values())}).",
            "",
        ]
    cal = model.calibration
    lines += [
        "## Scale",
        "",
        f"Scores run from 350 to {MAX_SCORE}; `score = base + sum of dimension points` for every "
        f"person, base {doc.base}. Fitted on the training rows: ln(odds of bad) = "
        f"{cal.intercept:.4f} + ({cal.slope:.6f}) x score, so **{cal.pdo:.1f} points halve the "
        f"odds of default** and default is as likely as not at {cal.even_odds_score:.0f}.",
        "",
        "## Bands (out-of-fold, first repeat)",
        "",
        "| band | scores | people | bads | bad rate |",
        "|---|---|---|---|---|",
    ]
    headline = doc.metrics[doc.headline]
    highs = [low - 1 for _, low in BANDS[1:]] + [MAX_SCORE]
    for (name, low), high, row in zip(BANDS, highs, headline["bands"], strict=True):
        lines.append(
            f"| {name} | {low}-{high} | {row['people']} | {row['bads']} | {_pct(row['bad_rate'])} |"
        )
    if not headline["bands_monotone"]:
        lines += ["", "**Warning: the bad rate does not fall monotonically from band to band.**"]
    lines += [
        "",
        "## Calibration (out-of-fold, deciles of predicted risk)",
        "",
        "| predicted | observed | people |",
        "|---|---|---|",
    ]
    lines += [
        f"| {_pct(c['predicted'])} | {_pct(c['observed'])} | {c['people']} |"
        for c in headline["calibration"]
    ]
    lines += ["", "## Features", ""]
    if isinstance(model, Scorecard):
        for table in model.tables:
            c = table.column
            lines += [
                f"### {c.name} ({c.dimension.value}, {c.kind.value}, {c.direction.value}; "
                f"IV {table.iv:.3f})",
                "",
                "| bin | people | bad rate | WoE | points |",
                "|---|---|---|---|---|",
            ]
            for label, n, b, w, p in zip(
                table.labels, table.counts, table.bads, table.woe, table.points, strict=True
            ):
                lines.append(f"| {label} | {n} | {_pct(b / n if n else None)} | {w:.3f} | {p} |")
            lines.append("")
        if model.dropped:
            lines += ["Columns not used:", ""]
            lines += [f"- {name}: {why}" for name, why in model.dropped.items()]
            lines.append("")
    else:
        lines += [
            f"{len(doc.columns)} columns, {model.trees} trees; each person's points per column "
            "are LightGBM's TreeSHAP contributions on the score scale.",
            "",
            "| column | dimension | direction |",
            "|---|---|---|",
        ]
        lines += [f"| {c.name} | {c.dimension.value} | {c.direction.value} |" for c in doc.columns]
        lines.append("")
    return "\n".join(lines)
