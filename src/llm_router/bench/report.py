"""Rich tables for `router bench` results."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def _errors(result: dict) -> str:
    by_type = result.get("errors_by_type") or {}
    if not result.get("errors"):
        return "0"
    return f"{result['errors']} (" + ", ".join(f"{k}: {v}" for k, v in by_type.items()) + ")"


def _caption(result: dict) -> str:
    env = result.get("environment") or {}
    return (
        f"{env.get('note', '')}; {env.get('machine', '')}; load average at start {env.get('loadavg_1m')}"
    ).strip("; ")


def _levels(result: dict) -> str:
    """A served cascade's level shares over the run ("static 54% / ... ; brownout 3%"), or "-"."""
    cascade = result.get("cascade")
    if not cascade:
        return "-"
    shares = " / ".join(f"{name} {100 * share:.0f}%" for name, share in cascade["levels"].items())
    return shares + (
        f"; brownout {100 * cascade['brownout_share']:.0f}%" if cascade["brownout_share"] else ""
    )


def print_http_result(result: dict, console: Console) -> None:
    bench = (result.get("config") or {}).get("bench") or {}
    title = f"router bench --mode http: {bench.get('model') or bench.get('url')}"
    if "steps" in result:
        table = Table(
            title=title + f" (find-max, SLO p99 <= {result['slo_ms']:g} ms)", caption=_caption(result)
        )
        cascade = any(step.get("cascade") for step in result["steps"])
        columns = ["target/s", "achieved/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors", "held"]
        for col in columns + (["cascade levels"] if cascade else []):
            table.add_column(col, justify="right")
        for step in result["steps"]:
            table.add_row(
                f"{step['target_rps']:g}",
                f"{step['achieved_rps']:g}",
                _ms(step["p50_ms"]),
                _ms(step["p95_ms"]),
                _ms(step["p99_ms"]),
                _ms(step["max_ms"]),
                _errors(step),
                "[green]yes[/]" if step["passed"] else "[red]no[/]",
                *([_levels(step)] if cascade else []),
            )
        console.print(table)
        held = result.get("max_rps")
        console.print(
            f"max rate holding p99 <= {result['slo_ms']:g} ms with no errors: "
            + (f"[bold]{held:g} requests/s[/]" if held else "[red]none of the steps held[/]")
        )
        return
    table = Table(title=title, caption=_caption(result))
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("target rate (req/s)", f"{result['target_rps']:g} ({(bench.get('arrival') or 'uniform')})"),
        ("achieved rate (req/s)", f"{result['achieved_rps']:g}"),
        ("requests measured", str(result["sent"])),
        ("p50 / p90 ms", f"{_ms(result['p50_ms'])} / {_ms(result['p90_ms'])}"),
        ("p95 / p99 ms", f"{_ms(result['p95_ms'])} / {_ms(result['p99_ms'])}"),
        ("p99.9 / max ms", f"{_ms(result['p999_ms'])} / {_ms(result['max_ms'])}"),
        ("errors", _errors(result)),
        ("generator send lag p99 ms", _ms(result.get("send_lag_p99_ms"))),
        ("client CPU %", f"{result.get('client_cpu_pct')}"),
        ("server CPU %", f"{result.get('server_cpu_pct', '-')}"),
    ]
    if result.get("cascade"):
        rows.append(("cascade levels (texts answered)", _levels(result)))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def print_inprocess_result(result: dict, console: Console) -> None:
    lat = Table(title=f"batch-1 latency, in-process: {result['model']}", caption=_caption(result))
    for col in ("device", "threads", "p50 ms", "p95 ms", "p99 ms", "max ms", "max req/s (1/mean)"):
        lat.add_column(col, justify="right")
    for row in result["latency"]:
        lat.add_row(
            row["device"],
            str(row["threads"]),
            _ms(row["p50_ms"]),
            _ms(row["p95_ms"]),
            _ms(row["p99_ms"]),
            _ms(row["max_ms"]),
            f"{row['max_rps_batch1']}",
        )
    console.print(lat)
    thr = Table(title="throughput by batch size (real-time vs batch)")
    for col in ("device", "threads", "batch", "ms / batch", "texts / s"):
        thr.add_column(col, justify="right")
    for row in result["throughput"]:
        thr.add_row(
            row["device"],
            str(row["threads"]),
            str(row["batch_size"]),
            _ms(row["ms_per_batch"]),
            f"{row['texts_per_s']:g}",
        )
    console.print(thr)
