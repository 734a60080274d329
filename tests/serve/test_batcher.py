"""The micro-batcher on its own: grouping, bounds, deadlines, draining."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from llm_router.serve.batcher import DeadlineExceeded, InferenceFailed, MicroBatcher, QueueFull, ShuttingDown

pytestmark = pytest.mark.timeout(30)


class Recorder:
    """``predict_fn`` that records each batch and optionally sleeps (releasing the GIL, like a model)."""

    def __init__(self, delay_s: float = 0.0, fail_on: str | None = None):
        self.batches: list[list[str]] = []
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[str]:
        with self.lock:
            self.batches.append(list(texts))
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("bad text")
        return [t.upper() for t in texts]


def run(coro):
    return asyncio.run(coro)


def test_queued_jobs_are_grouped_up_to_max_batch_and_answered_in_order():
    async def main():
        rec = Recorder()
        batcher = MicroBatcher(rec, max_batch=4, max_wait_s=0.0)
        batcher.start()
        futures = [batcher.submit([f"t{i}"]) for i in range(10)]
        results = await asyncio.gather(*futures)
        await batcher.close()
        return rec, results

    rec, results = run(main())
    assert results == [[f"T{i}"] for i in range(10)]
    assert [len(b) for b in rec.batches] == [4, 4, 2]


def test_multi_text_jobs_keep_their_slices():
    async def main():
        rec = Recorder()
        batcher = MicroBatcher(rec, max_batch=5, max_wait_s=0.0)
        batcher.start()
        a = batcher.submit(["a1", "a2"])
        b = batcher.submit(["b1", "b2", "b3"])
        c = batcher.submit(["c1", "c2"])
        out = await asyncio.gather(a, b, c)
        await batcher.close()
        return rec, out

    rec, out = run(main())
    assert out == [["A1", "A2"], ["B1", "B2", "B3"], ["C1", "C2"]]
    assert rec.batches == [["a1", "a2", "b1", "b2", "b3"], ["c1", "c2"]]


def test_wait_gathers_requests_that_arrive_within_max_wait():
    async def main():
        rec = Recorder()
        batcher = MicroBatcher(rec, max_batch=8, max_wait_s=0.2, adaptive_wait=False)
        batcher.start()
        first = batcher.submit(["first"])
        await asyncio.sleep(0.02)
        second = batcher.submit(["second"])
        await asyncio.gather(first, second)
        await batcher.close()
        return rec

    assert run(main()).batches == [["first", "second"]]


def test_full_queue_raises_queue_full():
    async def main():
        batcher = MicroBatcher(Recorder(delay_s=0.05), max_batch=1, max_wait_s=0.0, max_queue=3)
        batcher.start()
        accepted = [batcher.submit(["x"]) for _ in range(3)]
        with pytest.raises(QueueFull):
            batcher.submit(["one too many"])
        with pytest.raises(QueueFull):
            batcher.submit(["a", "b", "c", "d"])
        await asyncio.gather(*accepted)
        # room again once the queue drained
        await batcher.submit(["later"])
        await batcher.close()

    run(main())


def test_deadline_fails_slow_jobs_and_skips_expired_ones():
    async def main():
        rec = Recorder(delay_s=0.3)
        batcher = MicroBatcher(rec, max_batch=1, max_wait_s=0.0, timeout_s=0.1)
        batcher.start()
        running_job = batcher.submit(["running"])
        await asyncio.sleep(0.01)
        queued_job = batcher.submit(["queued"])
        with pytest.raises(DeadlineExceeded):
            await running_job
        with pytest.raises(DeadlineExceeded):
            await queued_job
        await asyncio.sleep(0.35)  # the running inference ends; the queued job must not be run afterwards
        await batcher.close()
        return rec

    assert run(main()).batches == [["running"]]


def test_a_failing_text_fails_only_its_own_job():
    async def main():
        batcher = MicroBatcher(Recorder(fail_on="bad"), max_batch=8, max_wait_s=0.0)
        batcher.start()
        futures = [batcher.submit([t]) for t in ("good1", "bad", "good2")]
        results = await asyncio.gather(*futures, return_exceptions=True)
        await batcher.close()
        return results

    good1, bad, good2 = run(main())
    assert good1 == ["GOOD1"] and good2 == ["GOOD2"]
    assert isinstance(bad, InferenceFailed)


def test_close_drains_queued_work_then_refuses_new_jobs():
    async def main():
        rec = Recorder(delay_s=0.02)
        batcher = MicroBatcher(rec, max_batch=2, max_wait_s=0.0)
        batcher.start()
        futures = [batcher.submit([f"t{i}"]) for i in range(6)]
        await batcher.close(drain_timeout_s=5)
        assert all(f.done() and not f.exception() for f in futures)
        with pytest.raises(ShuttingDown):
            batcher.submit(["late"])
        return rec

    assert sum(len(b) for b in run(main()).batches) == 6


def test_observer_sees_every_batch():
    seen = []

    async def main():
        batcher = MicroBatcher(
            Recorder(), max_batch=3, max_wait_s=0.0, observer=lambda n, q, s: seen.append(n)
        )
        batcher.start()
        await asyncio.gather(*(batcher.submit([str(i)]) for i in range(7)))
        await batcher.close()

    run(main())
    assert seen == [3, 3, 1]


def test_admission_refuses_what_would_miss_its_deadline_and_answers_the_rest_in_time():
    # 20 ms per batch of at most 2 texts = 100 texts/s; a 0.2 s deadline fits about 20 texts ahead
    async def main(admission: bool):
        rec = Recorder(delay_s=0.02)
        batcher = MicroBatcher(rec, max_batch=2, max_wait_s=0.0, timeout_s=0.2, admission=admission)
        batcher.start()
        await batcher.submit(["warm-up"])  # an unloaded batch: the first measured rate
        futures, refused = [], 0
        for i in range(120):  # an overload: 600 texts/s offered for 0.2 s
            try:
                futures.append(batcher.submit([f"t{i}"]))
            except QueueFull:
                refused += 1
            await asyncio.sleep(1 / 600)
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        await batcher.close()
        answered = sum(1 for o in outcomes if isinstance(o, list))
        expired = sum(1 for o in outcomes if isinstance(o, DeadlineExceeded))
        return refused, answered, expired, batcher.rate

    refused, answered, expired, rate = run(main(admission=True))
    assert refused > 0 and answered > 0
    assert expired <= answered / 4  # those admitted are mostly answered in time
    assert 20 < rate < 200  # the measured rate is the model's (100 texts/s), not the offered one
    _, answered_fifo, expired_fifo, _ = run(main(admission=False))
    assert expired_fifo > expired  # without it, the queue lets requests expire instead of refusing them


def test_admission_admits_everything_before_the_first_batch_and_predicts_no_wait():
    async def main():
        batcher = MicroBatcher(Recorder(delay_s=0.05), max_batch=1, max_wait_s=0.0, timeout_s=0.01)
        batcher.start()
        assert batcher.predicted_wait_s() == 0.0
        futures = [batcher.submit([f"t{i}"]) for i in range(5)]  # no rate yet: none refused
        await asyncio.gather(*futures, return_exceptions=True)  # all expire at 10 ms
        await asyncio.sleep(0.1)  # the first inference (50 ms) ends
        with pytest.raises(QueueFull, match="deadline"):  # 20 texts/s now known: 10 ms cannot hold one
            batcher.submit(["late"])
        await batcher.close()

    run(main())


def test_a_batch_that_waited_past_the_brownout_wait_runs_degraded():
    calls: list[tuple[int, int]] = []

    def predict(texts, degrade=0):
        calls.append((len(texts), degrade))
        time.sleep(0.06 if not calls[1:] else 0.0)  # the first batch holds the worker while others queue
        return list(texts)

    async def main():
        batcher = MicroBatcher(predict, max_batch=2, max_wait_s=0.0, degrade_after_s=0.025)
        batcher.start()
        first = batcher.submit(["a"])
        await asyncio.sleep(0.005)  # "a" is running when the rest arrive
        rest = [batcher.submit([t]) for t in ("b", "c", "d")]
        results = await asyncio.gather(first, *rest)
        await batcher.close()
        return results

    results = run(main())
    assert results == [["a"], ["b"], ["c"], ["d"]]
    assert calls[0] == (1, 0)  # nothing waited before the first batch
    assert calls[1][0] == 2 and calls[1][1] >= 2  # "b" waited >= 55 ms: twice the 25 ms brownout wait
    assert all(degrade >= 1 for _, degrade in calls[1:])


def test_without_a_brownout_wait_predict_gets_the_texts_only():
    rec = Recorder(delay_s=0.02)

    async def main():
        batcher = MicroBatcher(rec, max_batch=1, max_wait_s=0.0)
        batcher.start()
        await asyncio.gather(*(batcher.submit([t]) for t in ("a", "b", "c")))
        await batcher.close()

    run(main())  # Recorder takes no degrade argument: a call with one would raise
    assert rec.batches == [["a"], ["b"], ["c"]]
    with pytest.raises(ValueError):
        MicroBatcher(rec, degrade_after_s=0.0)
