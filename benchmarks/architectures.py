"""Time encoder architectures by shape, not by weights: random-initialised models built from configs, so
ModernBERT, DistilBERT and TinyBERT (whose weights are not available offline) are timed next to the models we do
have. Batch 1, one typical query length, PyTorch eager fp32 and bf16 on the CPU at 1 and 2 threads.

    python benchmarks/architectures.py --json docs/results/architectures_cpu.json --markdown docs/results/architectures_cpu.md

Weights are random: these numbers say nothing about accuracy, only about the cost of the architecture.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def configs():
    from transformers import BertConfig, DistilBertConfig, ModernBertConfig

    vocab = 30522  # the embedding size barely affects batch-1 latency (a row lookup); keep RAM small
    return {
        "ModernBERT-base (22x768)": ModernBertConfig(vocab_size=50368, num_labels=3),
        "BERT-base / mpnet-base size (12x768)": BertConfig(vocab_size=vocab, num_labels=3),
        "DistilBERT-base (6x768)": DistilBertConfig(vocab_size=vocab, num_labels=3),
        "multilingual-e5-small (12x384)": BertConfig(
            vocab_size=vocab,
            hidden_size=384,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=1536,
            num_labels=3,
        ),
        "all-MiniLM-L6-v2 (6x384)": BertConfig(
            vocab_size=vocab,
            hidden_size=384,
            num_hidden_layers=6,
            num_attention_heads=12,
            intermediate_size=1536,
            num_labels=3,
        ),
        "TinyBERT-4L-312D (4x312)": BertConfig(
            vocab_size=vocab,
            hidden_size=312,
            num_hidden_layers=4,
            num_attention_heads=12,
            intermediate_size=1200,
            num_labels=3,
        ),
        "our layers:4 student (4x384)": BertConfig(
            vocab_size=vocab,
            hidden_size=384,
            num_hidden_layers=4,
            num_attention_heads=12,
            intermediate_size=1536,
            num_labels=3,
        ),
    }


def time_model(model, seq_len: int, threads: int, dtype, calls: int, warmup: int = 5) -> dict:
    import torch

    torch.set_num_threads(threads)
    ids = torch.randint(5, 1000, (1, seq_len))
    mask = torch.ones_like(ids)
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
        for i in range(warmup + calls):
            t0 = time.perf_counter()
            model(input_ids=ids, attention_mask=mask)
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[int(0.99 * (len(times) - 1))], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seq-len", type=int, default=24, help="tokens per query (the demo set's p95 is ~20)")
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--markdown", type=Path, default=None)
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForSequenceClassification

    from llm_router.eval.environment import collect_environment, describe_machine

    torch.manual_seed(0)
    rows = []
    for name, cfg in configs().items():
        model = AutoModelForSequenceClassification.from_config(
            cfg, attn_implementation="eager" if cfg.model_type == "modernbert" else None
        ).eval()
        params = sum(p.numel() for p in model.parameters())
        for threads in [int(t) for t in args.threads.split(",")]:
            for dtype in ("fp32", "bf16"):
                r = time_model(model, args.seq_len, threads, dtype, args.calls)
                rows.append(
                    {
                        "model": name,
                        "params_m": round(params / 1e6, 1),
                        "threads": threads,
                        "dtype": dtype,
                        "seq_len": args.seq_len,
                        **r,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
        del model
    env = collect_environment()
    out = {
        "machine": describe_machine(env),
        "environment": env,
        "note": "random-initialised weights; eager PyTorch; batch 1",
        "rows": rows,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        lines = [
            f"Machine: {out['machine']}. Batch 1, {args.seq_len} tokens, eager PyTorch, random-initialised "
            "weights (timing only).",
            "",
            "| architecture | params (M) | threads | fp32 p50 ms | bf16 p50 ms |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name in dict.fromkeys(r["model"] for r in rows):
            for t in dict.fromkeys(r["threads"] for r in rows):
                f = next(r for r in rows if r["model"] == name and r["threads"] == t and r["dtype"] == "fp32")
                b = next(r for r in rows if r["model"] == name and r["threads"] == t and r["dtype"] == "bf16")
                lines.append(f"| {name} | {f['params_m']} | {t} | {f['p50_ms']} | {b['p50_ms']} |")
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
