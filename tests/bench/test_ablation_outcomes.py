"""benchmarks/ablation.py's outcome rows: one model per route's outcome, combined by the cheapest-right rule."""

import pandas as pd

from benchmark_scripts import load_benchmark

ROUTES = ("gemini-mini", "Claude", "gpt-o1")  # cheapest first, as RouterBench's label rule reads them


def _outcome_frame(n_per_kind: int = 12) -> pd.DataFrame:
    """Three kinds of prompt, each with a fixed outcome pattern: the cheapest right ("easy"), only the middle
    route right ("essay"), only the dearest right ("proof"); the label is the cheapest route that was right."""
    kinds = {
        "easy": ("gemini-mini", (1, 1, 1)),
        "essay": ("Claude", (0, 1, 0)),
        "proof": ("gpt-o1", (0, 0, 1)),
    }
    rows = []
    for kind, (label, scores) in kinds.items():
        for i in range(n_per_kind):
            rows.append(
                {
                    "text": f"{kind} {kind} prompt number {i}",
                    "label": label,
                    **{f"score_{r}": float(s) for r, s in zip(ROUTES, scores, strict=True)},
                }
            )
    return pd.DataFrame(rows)


def test_outcome_models_recover_a_label_the_outcomes_determine():
    ablation = load_benchmark("ablation")
    result = ablation.run_outcomes(_outcome_frame(), folds=3, seed=0, features="tfidf")
    assert result["folds"] == 3 and result["n"] == 36
    assert result["macro_f1_mean"] == 1.0


def test_outcome_rows_are_listed_for_routerbench_only():
    ablation = load_benchmark("ablation")
    rows = {r.key: r for r in ablation.rows() if r.kind == "outcomes"}
    assert set(rows) == {"rb_tfidf_outcomes", "rb_frozen_e5_outcomes"}
    assert {r.data for r in rows.values()} == {"routerbench"}
