"""How far does dynamic INT8 move a teacher's decisions, and what does keeping its first encoder layers float buy?

For each ``--float-layers`` value the script quantises the run's teacher as `router quantize --int8` does (the
plain export, MatMuls INT8 per channel, the first N encoder layers' MatMuls kept float) into a scratch folder,
then routes, one text at a time as the server does (dynamic INT8 depends on the batch), the validation texts,
``--copies`` augmented copies of each (the texts cascade thresholds are chosen on) and the test texts. It reports
the agreement with the float ONNX model (Wilson 95% interval), the test macro F1 with its bootstrap interval and
batch-1 latency over the test texts (each variant timed in turn, ``--rounds`` times, interleaved).

    HF_HUB_OFFLINE=1 python benchmarks/int8_float_layers.py --run runs/demo --layers 0,1,2 \\
        --json docs/results/int8_float_layers_demo.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shlex
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx


def main() -> None:
    from llm_router.eval.cascade import PROBE_COPIES, probe_texts
    from llm_router.eval.environment import collect_environment
    from llm_router.eval.metrics import agreement, classification_report
    from llm_router.persistence import load_folder_data, read_router_info
    from llm_router.quantize.exporters import export_onnx
    from llm_router.quantize.int8 import first_layer_nodes, quantize_blockwise_int8, quantize_dynamic_int8
    from llm_router.runtime.onnx_backend import OnnxPredictor

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="run folder of router pipeline")
    parser.add_argument("--teacher", default="teacher", help="the HF teacher folder in --run")
    parser.add_argument("--onnx", default="teacher-int8", help="an ONNX folder of the same model (tokenizer)")
    parser.add_argument("--layers", default="0,1,2", help="--float-layers values to compare")
    parser.add_argument(
        "--reduce-range",
        default="0",
        help="reduce_range values to compare (0,1: 7-bit weights, for CPUs without VNNI)",
    )
    parser.add_argument(
        "--keep-float",
        action="append",
        default=[],
        metavar="NAME=REGEX",
        help="a further variant that also keeps float every MatMul whose node name matches REGEX (repeatable), "
        "e.g. ffn_out='layer\\.\\d+/output/dense/'",
    )
    parser.add_argument(
        "--blockwise", default="", help="block sizes of blockwise INT8 variants to add (e.g. 128; '': none)"
    )
    parser.add_argument("--float-row", action="store_true", help="also time the float export (agreement 1)")
    parser.add_argument("--copies", type=int, default=PROBE_COPIES)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the test texts per variant")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    run = Path(args.run)
    data = load_folder_data(run / args.teacher)
    val = list(data.val["text"]) + probe_texts(data, args.copies, 0)
    test, gold = list(data.test["text"]), list(data.test["route"])
    train = list(data.train["text"])
    onnx_folder, info = read_router_info(run / args.onnx)
    layers = [int(v) for v in args.layers.split(",")]
    reduce = [bool(int(v)) for v in args.reduce_range.split(",")]
    patterns = [("", None)] + [tuple(spec.split("=", 1)) for spec in args.keep_float]

    def routes_of(predictor, texts):  # one text at a time, as the server routes them
        return predictor.predict(texts, batch_size=1).routes

    with tempfile.TemporaryDirectory(prefix="int8-layers-") as scratch:
        raw = Path(scratch) / "exported.onnx"
        export_onnx(run / args.teacher, raw, 18)
        reference = OnnxPredictor(onnx_folder, info, threads=args.threads, onnx_file=str(raw))
        ref_val, ref_test = routes_of(reference, val), routes_of(reference, test)
        ref_train = routes_of(reference, train)
        routes = list(reference.routes)
        del reference
        variants = {}

        def add_variant(key, onnx_file: Path, row: dict) -> None:
            predictor = OnnxPredictor(onnx_folder, info, threads=args.threads, onnx_file=str(onnx_file))
            r_val, r_test = routes_of(predictor, val), routes_of(predictor, test)
            f1 = classification_report(gold, r_test, routes, n_boot=1000)
            row |= {
                "agreement_train": agreement(routes_of(predictor, train), ref_train),
                "agreement_val_and_copies": agreement(r_val, ref_val),
                "agreement_test": agreement(r_test, ref_test),
                "test_macro_f1": f1["macro_f1"],
                "test_macro_f1_ci95": f1.get("macro_f1_ci95"),
            }
            variants[key] = {"predictor": predictor, "row": row, "times": []}

        graph = onnx.load(str(raw), load_external_data=False).graph
        for k, rr, (name, pattern) in itertools.product(layers, reduce, patterns):
            out = Path(scratch) / f"float{k}-rr{int(rr)}-{name}.onnx"
            keep = first_layer_nodes(raw, k)
            if pattern:
                keep += [n.name for n in graph.node if n.op_type == "MatMul" and re.search(pattern, n.name)]
                keep = sorted(set(keep))
            quantize_dynamic_int8(raw, out, nodes_to_exclude=keep, reduce_range=rr)
            row = {"scheme": "dynamic", "float_layers": k, "reduce_range": rr, "keep_float": pattern}
            add_variant((k, rr, name), out, row | {"float_nodes": len(keep)})
        for block in [int(b) for b in args.blockwise.split(",") if b]:
            out = Path(scratch) / f"blockwise{block}.onnx"
            quantize_blockwise_int8(raw, out, block_size=block)
            add_variant(("blockwise", block), out, {"scheme": "blockwise", "block_size": block})
        if args.float_row:
            add_variant(("float",), raw, {"scheme": "float"})
        for _ in range(args.rounds):  # interleaved, so drift of the machine hits every variant alike
            for v in variants.values():
                predictor = v["predictor"]
                for text in test[:5]:
                    predictor.predict_one(text)
                for text in test:
                    started = time.perf_counter()
                    predictor.predict_one(text)
                    v["times"].append(1e3 * (time.perf_counter() - started))
    rows = []
    for v in variants.values():
        times = np.asarray(v["times"])
        row = v["row"]
        if len(times):  # --rounds 0: agreement only
            row |= {
                "mean_ms": float(times.mean()),
                "p50_ms": float(np.percentile(times, 50)),
                "p99_ms": float(np.percentile(times, 99)),
            }
        rows.append(row)
        if row["scheme"] == "dynamic":
            what = (
                f"dynamic, float layers {row['float_layers']}, reduce_range {int(row['reduce_range'])}, "
                f"keep float {row['keep_float'] or '-'} ({row['float_nodes']} nodes)"
            )
        else:
            what = "blockwise, block " + str(row["block_size"]) if row["scheme"] == "blockwise" else "float"
        print(
            f"{what}: agreement with float {row['agreement_train']['value']:.3f} (train, {len(train)}), "
            f"{row['agreement_val_and_copies']['value']:.3f}"
            f" (validation + copies, {len(val)}), {row['agreement_test']['value']:.3f} (test, {len(test)}); "
            f"test macro F1 {row['test_macro_f1']:.3f}"
            + (
                f"; batch-1 mean {row['mean_ms']:.2f} / p99 {row['p99_ms']:.2f} ms"
                if "mean_ms" in row
                else ""
            )
        )
    float_f1 = classification_report(gold, ref_test, routes, n_boot=0)["macro_f1"]
    result = {
        "run": str(run),
        "n_train": len(train),
        "n_val_and_copies": len(val),
        "n_test": len(test),
        "float_test_macro_f1": float_f1,
        "cpu": collect_environment()["cpu"],
        "threads": args.threads,
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/int8_float_layers.py "
        + " ".join(
            f"--{k.replace('_', '-')} {shlex.quote(str(one))}"
            for k, v in vars(args).items()
            if v is not None
            for one in (v if isinstance(v, list) else [v])
        ),
        "rows": rows,
    }
    print(f"float ONNX test macro F1 {float_f1:.3f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
