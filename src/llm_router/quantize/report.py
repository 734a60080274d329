"""The rich table `router quantize` prints."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from llm_router.quantize.core import QuantizeResult

DECISION_STYLE = {
    "accepted": "green",
    "float": "green",
    "rejected": "bold red",
    "forced": "yellow",
    "ungated": "yellow",
}


def _f1(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_quantize_result(result: QuantizeResult, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"router quantize: {result.mode}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("source", result.source)
    table.add_row("output", f"{result.out} (serves {result.served_file})")
    fused = ", ".join(f"{k} x{v}" for k, v in (result.fused_ops or {}).items()) or "none"
    table.add_row(
        "export",
        f"{result.exporter}, opset {result.opset}; optimised: {'yes' if result.optimized else 'no'}"
        + (f" ({fused})" if result.optimized else ""),
    )
    if result.max_abs_logit_diff is not None:
        style = "green" if result.parity_ok else "red"
        table.add_row(
            "max |logit diff| vs PyTorch",
            f"[{style}]{result.max_abs_logit_diff:.2e}[/] on {result.n_parity_texts} texts",
        )
    if result.float_nodes:
        parts = [f"the first {result.float_layers} encoder layer(s)"] if result.float_layers else []
        if result.float_ffn != "none":
            which = (
                "both feed-forward projections" if result.float_ffn == "all" else "the feed-forward output"
            )
            parts.append(f"{which} of every layer")
        table.add_row(
            "kept float",
            f"{' and '.join(parts)}: {result.float_nodes} nodes of the quantised op types",
        )
    if result.scheme_choice:
        table.add_row("INT8 scheme", result.scheme_choice["reason"])
    if result.calib_method:
        table.add_row("calibration", f"{result.calib_method} on {result.n_calib} texts")
    if result.f1_float is not None:
        table.add_row(f"macro F1 float ({result.val_split}, n={result.n_val})", _f1(result.f1_float))
        table.add_row("macro F1 quantised", _f1(result.f1_quantized))
        drop_style = "red" if result.decision in ("rejected", "forced") else "green"
        table.add_row(
            "F1 drop (points)", f"[{drop_style}]{result.f1_drop:+.2f}[/] (tolerance {result.tolerance:g})"
        )
        table.add_row("same route as float", f"{100 * result.agreement:.1f}%")
    if result.gate:
        g = result.gate
        lo, hi = g["agreement_ci95"]
        by_source = g.get("agreement_by_source") or {}
        sources = ", ".join(
            f"{k} {v}" + (f": {100 * by_source[k]:.1f}%" if k in by_source else "")
            for k, v in g["sources"].items()
            if v
        )
        table.add_row(
            "gate: agreement",
            f"{100 * g['agreement']:.1f}% of {g['n_agreement_texts']} texts ({sources}); 95% "
            f"{100 * lo:.1f}-{100 * hi:.1f}%; minimum {100 * g['min_agreement']:g}%",
        )
        c_lo, c_hi = g["f1_change_ci"]
        table.add_row(
            "gate: val F1 change",
            f"{g['f1_change']:+.2f} points, {100 * g['confidence']:g}% interval [{c_lo:+.2f}, {c_hi:+.2f}]",
        )
    sizes = ", ".join(f"{name} {mb:.1f} MB" for name, mb in result.sizes_mb.items())
    table.add_row("files", sizes)
    style = DECISION_STYLE.get(result.decision, "white")
    table.add_row("decision", f"[{style}]{result.decision}[/]")
    for note in result.notes:
        table.add_row("note", note)
    console.print(table)
