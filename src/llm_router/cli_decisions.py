"""The `router calibrate`, `router policy` and `router costeval` commands (registered on the `router` app by
:mod:`llm_router.cli`): decisions a user can trust (calibrated probabilities) and tune (a routing policy, and its
cost-quality trade-off measured on outcome data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llm_router.cli import JsonOpt, ThreadsOpt, app, console, parse_labels, write_json
from llm_router.errors import RouterError

ModelOpt = Annotated[Path, typer.Option("--model", help="Model folder (hf, onnx or static) or .onnx file.")]


def _model_folder(model: Path) -> Path:
    return model.parent if model.is_file() else model


def fit_and_print_calibration(model: Path, df, threads: int | None, bias: bool = False):
    from llm_router.eval.calibrate import calibrate_model

    cal = calibrate_model(model, df, threads=threads, bias=bias)
    b, a = cal.before, cal.after
    console.print(
        f"temperature {cal.temperature:.4f}"
        + (f" + bias {', '.join(f'{b:+.3f}' for b in cal.bias)}" if cal.bias else "")
        + f" fitted on {cal.fitted_on}: ECE {b['ece']:.3f} -> {a['ece']:.3f}, "
        f"Brier {b['brier']:.3f} -> {a['brier']:.3f}, NLL {b['nll']:.3f} -> {a['nll']:.3f}; "
        f"wrote {_model_folder(model) / 'calibration.json'}",
        highlight=False,
    )
    return cal


@app.command()
def calibrate(
    model: ModelOpt,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Fit on this labelled file (default: the model's own validation split)."),
    ] = None,
    text_col: Annotated[str | None, typer.Option("--text-col", help="Text column of --data.")] = None,
    label_col: Annotated[str | None, typer.Option("--label-col", help="Route column of --data.")] = None,
    remove: Annotated[
        bool, typer.Option("--remove", help="Remove the folder's calibration (temperature 1 again).")
    ] = False,
    bias: Annotated[
        bool,
        typer.Option(
            "--bias",
            help="Also fit a logit bias per label (temperature+bias): corrects the prior shift of class weights.",
        ),
    ] = False,
    threads: ThreadsOpt = None,
    json_path: JsonOpt = None,
) -> None:
    """Fit temperature scaling (minimum NLL on the validation split) and store it in the model folder
    (calibration.json); the Predictor, `router serve` and `router eval` then apply it."""
    from llm_router.runtime.calibration import write_calibration

    if remove:
        write_calibration(_model_folder(model), None)
        console.print(f"removed the calibration of {model}")
        return
    df = None
    if data is not None:
        from llm_router.data import load_dataset
        from llm_router.persistence.router_json import read_router_info

        _, info = read_router_info(model)
        known = info.data or {}
        df = load_dataset(
            data, text_col or known.get("text_col") or "text", label_col or known.get("label_col") or "label"
        )
    cal = fit_and_print_calibration(model, df, threads, bias)
    write_json(json_path, cal.to_dict())


def _route_values(values: list[str] | None, what: str) -> tuple[dict[str, float], float | None]:
    """``ROUTE=X`` items -> {route: X}; a bare ``X`` is the default for every other route."""
    out: dict[str, float] = {}
    default = None
    for item in values or []:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, value = part.rpartition("=")
            try:
                number = float(value)
            except ValueError:
                raise RouterError(f"{what}: {part!r} is not ROUTE=NUMBER or NUMBER") from None
            if sep:
                out[name.strip()] = number
            else:
                default = number
    return out, default


@app.command()
def policy(
    model: ModelOpt,
    rule: Annotated[
        str | None,
        typer.Option("--rule", help="argmax | threshold | cost (omit to show the folder's policy)."),
    ] = None,
    min_confidence: Annotated[
        list[str] | None,
        typer.Option(
            "--min-confidence", help="threshold: ROUTE=P per route, or P for every route (repeatable)."
        ),
    ] = None,
    fallback: Annotated[
        str | None, typer.Option("--fallback", help="threshold: the route taken below the minimum.")
    ] = None,
    cost: Annotated[
        list[str] | None,
        typer.Option("--cost", help="cost: ROUTE=COST per query (repeatable; default: --outcomes' means)."),
    ] = None,
    lam: Annotated[
        float, typer.Option("--lambda", help="cost: quality given up per unit of cost (0 = best quality).")
    ] = 0.0,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes",
            help="cost: file with score_<route> / cost_<route> columns: route costs and the expected-quality "
            "table are fitted on the model's train + val rows in it (or on --split-col == --fit-split).",
        ),
    ] = None,
    text_col: Annotated[str | None, typer.Option("--text-col", help="Text column of --outcomes.")] = None,
    label_col: Annotated[str | None, typer.Option("--label-col", help="Label column of --outcomes.")] = None,
    split_col: Annotated[
        str | None, typer.Option("--split-col", help="Column of --outcomes naming each row's split.")
    ] = None,
    fit_split: Annotated[str, typer.Option("--fit-split", help="Value of --split-col to fit on.")] = "train",
) -> None:
    """Set the routing policy of a model folder (policy.json): argmax, per-route minimum confidence with a
    fallback route, or cost-aware (expected quality minus lambda x cost)."""
    from llm_router.persistence.router_json import read_router_info
    from llm_router.runtime.policy import Policy, read_policy, write_policy

    folder, info = read_router_info(model)
    _check_policy_options(
        rule,
        {
            "--min-confidence": ("threshold", bool(min_confidence)),
            "--fallback": ("threshold", fallback is not None),
            "--cost": ("cost", bool(cost)),
            "--lambda": ("cost", lam != 0.0),
            "--outcomes": ("cost", outcomes is not None),
        },
    )
    if rule is None:
        current = read_policy(folder, info.raw)
        console.print_json(data=(current or Policy()).to_dict())
        return
    if rule == "argmax":
        write_policy(folder, None)
        console.print(f"{folder}: argmax (removed policy.json)")
        return
    per_route, default = _route_values(min_confidence, "--min-confidence")
    costs, _ = _route_values(cost, "--cost")
    quality, source = None, "--cost" if costs else ""
    if rule == "cost" and outcomes is not None:
        quality, fitted, source = _fit_from_outcomes(
            folder, info, outcomes, text_col, label_col, split_col, fit_split
        )
        costs = {**fitted, **costs}
    made = Policy(
        rule=rule,
        min_confidence=per_route,
        default_min_confidence=default or 0.0,
        fallback=fallback,
        costs=costs or None,
        lam=lam,
        quality=quality,
        source=source,
    )
    path = write_policy(folder, made)
    console.print(f"wrote {path}: rule {rule}", highlight=False)


def _check_policy_options(rule: str | None, given: dict[str, tuple[str, bool]]) -> None:
    """A rule's options given without that rule would be ignored silently: refuse them instead."""
    for flag, (needs, present) in given.items():
        if present and rule != needs:
            why = "without --rule" if rule is None else f"with --rule {rule}"
            raise RouterError(f"{flag} applies to --rule {needs} only; it was given {why}")


def _fit_from_outcomes(folder, info, outcomes, text_col, label_col, split_col, fit_split):
    from llm_router.data import read_table
    from llm_router.runtime.policy import fit_outcome_model, outcome_columns
    from llm_router.utils import read_json, text_hash

    table = read_table(outcomes)
    known = info.data or {}
    text_col = text_col or known.get("text_col") or "text"
    label_col = label_col or known.get("label_col") or "label"
    scores, costs = outcome_columns(table.columns, info.routes)
    if split_col:
        if split_col not in table.columns:
            raise RouterError(f"{outcomes}: no column {split_col!r}")
        rows = table[table[split_col].astype(str) == fit_split]
        where = f"{split_col} == {fit_split!r}"
    elif (folder / "split.json").exists() and text_col in table.columns:
        split = read_json(folder / "split.json")
        seen = set(split.get("train") or []) | set(split.get("val") or [])
        rows = table[table[text_col].map(lambda t: text_hash(str(t).strip())).isin(seen)]
        where = "the model's train + val rows"
    else:
        rows, where = table, "all rows"
    if len(rows) == 0:
        raise RouterError(f"{outcomes}: no rows to fit on ({where})")
    labels = rows[label_col].astype(str).tolist() if label_col in rows.columns else None
    quality, mean_costs = fit_outcome_model(
        rows[scores].to_numpy(float), rows[costs].to_numpy(float), labels, info.routes
    )
    return quality, mean_costs, f"{outcomes} ({where}, {len(rows)} rows)"


@app.command()
def costeval(
    model: ModelOpt,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="Outcome file with score_<route>, cost_<route> (default: the model's data)."
        ),
    ] = None,
    text_col: Annotated[str | None, typer.Option("--text-col", help="Text column.")] = None,
    label_col: Annotated[
        str | None, typer.Option("--label-col", help="Label column (quality table).")
    ] = None,
    split_col: Annotated[
        str | None,
        typer.Option("--split-col", help="Column naming each row's split (default: the model's split.json)."),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Value of --split-col to evaluate on.")] = "test",
    fit_split: Annotated[
        str, typer.Option("--fit-split", help="Value of --split-col to fit route costs / quality on.")
    ] = "train",
    lambdas: Annotated[int, typer.Option("--lambdas", help="Number of lambda values swept.")] = 41,
    n_boot: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples of the queries.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: <model>/costeval).")
    ] = None,
    threads: ThreadsOpt = None,
    json_path: JsonOpt = None,
) -> None:
    """Cost-quality evaluation on outcome data: sweep the cost policy's lambda; AIQ against the zero router,
    APGR, CPT(50%/80%), cost saving at 95% of the best single route, route split, bootstrap intervals, PNG."""
    from llm_router.eval.costeval import CostEvalConfig, print_costeval, run_costeval

    cfg = CostEvalConfig(
        model=str(model),
        data=str(data) if data else None,
        text_col=text_col,
        label_col=label_col,
        split_col=split_col,
        split=split,
        fit_split=fit_split,
        lambdas=lambdas,
        n_boot=n_boot,
        seed=seed,
        threads=threads,
        out=str(out) if out else None,
    )
    result = run_costeval(cfg, progress=lambda msg: console.print(msg, highlight=False))
    print_costeval(result, console)
    write_json(json_path, result)


__all__ = ["calibrate", "costeval", "fit_and_print_calibration", "parse_labels", "policy"]
