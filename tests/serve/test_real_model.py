"""`router serve` on a real (tiny, random-initialised) torch model through `runtime.Predictor`."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from serve_helpers import running

from llm_router.bench.loadgen import LoadConfig, run_load
from llm_router.serve import make_loader

pytestmark = pytest.mark.timeout(180)


def test_serves_a_torch_model_folder_like_the_predictor(random_bert_dir):
    from llm_router.runtime import Predictor

    texts = ["write a poem about the sea", "solve 3x + 4 = 19 for x", "hi anna", "what time is it in paris"]
    direct = Predictor.load(random_bert_dir, threads=1).predict(texts)
    with running(make_loader(str(random_bert_dir), "cpu", 1), max_batch=8) as state:
        base = state.base_url

        async def concurrent():
            async with httpx.AsyncClient(timeout=30) as client:
                return await asyncio.gather(*(client.post(base + "/route", json={"text": t}) for t in texts))

        responses = asyncio.run(concurrent())
        assert [r.status_code for r in responses] == [200] * 4
        bodies = [r.json() for r in responses]
        assert [b["route"] for b in bodies] == direct.routes
        for body, row in zip(bodies, direct.route_probs, strict=True):
            assert [body["scores"][r] for r in state.routes] == pytest.approx(row.tolist(), abs=1e-4)
        assert bodies[0]["model"].startswith(random_bert_dir.name)

        batch = httpx.post(base + "/route/batch", json={"texts": texts}, timeout=30).json()
        assert [r["route"] for r in batch["results"]] == direct.routes

        result = run_load(LoadConfig(url=base + "/route", rps=50, duration_s=1, warmup_s=0.2, texts=texts))
        assert result["errors"] == 0 and result["ok"] == 50
