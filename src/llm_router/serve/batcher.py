"""Dynamic micro-batching on the event loop, inference off it.

Requests enter a bounded FIFO as jobs (one text for ``/route``, several for ``/route/batch``). A worker task
takes the oldest job, then keeps gathering jobs until the batch holds ``max_batch`` texts or the oldest job
has waited ``max_wait_s`` since it *arrived* (time spent queued behind a running inference counts, so a
request is never held back twice). The batch runs as one call of ``predict_fn`` in a dedicated thread
(``inference_workers`` threads; the model's own intra-op threads do the parallel work), and each job's future
gets its slice of the results.

Every job has a deadline. A timer fails the job with :class:`DeadlineExceeded` at its deadline if it has not
been answered (so a client always hears back in time, even if inference stalls), and jobs already past their
deadline are dropped before inference instead of wasting model time. A full queue raises :class:`QueueFull`
at submit time.

Admission control (``admission=True``): under overload a FIFO queue answers nobody - every job waits until it
is almost due, and expires during its own inference. So at submit time the batcher predicts the job's wait
from the texts ahead of it and the inference rate it measured (texts/s of the batches that ran while work was
queued, i.e. at saturation; the rate of unloaded batches until then) and refuses the job at once with
:class:`WouldMissDeadline` (a :class:`QueueFull`, HTTP 429) when that wait exceeds ``admission_share`` of its
deadline (half by default: batch times vary, and a job admitted at the edge of its deadline would often expire
anyway; the server stays just as busy with a shorter queue). The server then sheds the excess and answers the
requests it admits in time. Before the first batch there is no rate and every job is admitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

logger = logging.getLogger(__name__)

PredictFn = Callable[[list[str]], Sequence[Any]]


class QueueFull(Exception):
    """The queue holds ``max_queue`` texts already: the caller should retry later (HTTP 429)."""


class WouldMissDeadline(QueueFull):
    """At the measured inference rate, the texts ahead would not be answered before this job's deadline."""


class DeadlineExceeded(Exception):
    """The job was not answered before its deadline (HTTP 503)."""


class ShuttingDown(Exception):
    """The batcher no longer accepts work (HTTP 503)."""


class InferenceFailed(Exception):
    """``predict_fn`` raised for this job's texts."""


class _Job:
    __slots__ = ("texts", "n", "future", "arrival", "deadline", "timer", "dead", "queued")

    def __init__(self, texts: list[str], future: asyncio.Future, arrival: float, deadline: float):
        self.texts = texts
        self.n = len(texts)
        self.future = future
        self.arrival = arrival
        self.deadline = deadline
        self.timer: asyncio.TimerHandle | None = None
        self.dead = False  # answered early (deadline timer) or cancelled: skip it
        self.queued = False  # counted in the queue depth


def _ewma(old: float, new: float, weight: float = 0.3) -> float:
    """Exponentially weighted mean; ``old`` 0 means none yet."""
    return new if not old else old + weight * (new - old)


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


class MicroBatcher:
    """Gathers concurrent jobs into batches for ``predict_fn(texts) -> results`` (one result per text).

    Use from inside a running event loop: ``start()``, then ``await submit(texts)`` from handlers, and
    ``await close()`` to drain and stop. ``observer(batch_size, queue_depth, seconds)`` is called after each
    inference (for metrics). With ``degrade_after_s``, a batch whose oldest job waited ``k`` times that long
    before its inference runs as ``predict_fn(texts, k)`` (brownout: the predictor answers more cheaply).
    """

    def __init__(
        self,
        predict_fn: PredictFn,
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.002,
        max_queue: int = 1024,
        timeout_s: float = 1.0,
        workers: int = 1,
        adaptive_wait: bool = True,
        admission: bool = True,
        admission_share: float = 0.5,
        observer: Callable[[int, int, float], None] | None = None,
        degrade_after_s: float | None = None,
    ):
        if (
            max_batch < 1
            or max_queue < 1
            or workers < 1
            or timeout_s <= 0
            or max_wait_s < 0
            or not (0 < admission_share <= 1)
            or (degrade_after_s is not None and degrade_after_s <= 0)
        ):
            raise ValueError("invalid batcher settings")
        self.predict_fn = predict_fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.workers = workers
        self.adaptive_wait = adaptive_wait
        self.admission = admission
        self.admission_share = admission_share
        self.degrade_after_s = degrade_after_s
        self._busy_rate = 0.0  # texts/s of inferences that ran while work was queued (EWMA); 0 = none yet
        self._idle_rate = 0.0  # texts/s of inferences with nothing queued (EWMA)
        self._mean_gap = 1.0  # exponentially weighted mean time between submits, seconds
        self._last_submit = 0.0
        self.observer = observer
        self._pending: deque[_Job] = deque()
        self._depth = 0  # texts waiting (not yet taken by a worker, not expired)
        self._in_flight = 0  # texts inside a running inference
        self._idle_waiters: list[asyncio.Future] = []
        self._fill_waiter: asyncio.Future | None = None
        self._tasks: list[asyncio.Task] = []
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.batches = 0

    # ------------------------------------------------------------------------------------------ state
    @property
    def queue_depth(self) -> int:
        """Texts waiting for inference."""
        return self._depth

    @property
    def in_flight(self) -> int:
        """Texts inside a running inference."""
        return self._in_flight

    @property
    def rate(self) -> float:
        """Measured inference rate in texts/s (at saturation when seen, else unloaded); 0 before any batch."""
        return self._busy_rate or self._idle_rate

    def predicted_wait_s(self, n: int = 1) -> float:
        """Seconds until a job of ``n`` texts submitted now would be answered, at :attr:`rate` (0 if unknown)."""
        rate = self.rate
        if not rate:
            return 0.0
        return (self._in_flight + self._depth + n) / (rate * self.workers)

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not self._closing

    # ------------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="router-infer")
        self._tasks = [
            self._loop.create_task(self._worker(), name=f"router-batcher-{i}") for i in range(self.workers)
        ]

    async def close(self, drain_timeout_s: float | None = 30.0) -> None:
        """Refuse new jobs, let the queued ones finish (up to ``drain_timeout_s``), then stop the workers."""
        self._closing = True
        start = time.perf_counter()
        while self._depth or self._in_flight:
            if drain_timeout_s is not None and time.perf_counter() - start > drain_timeout_s:
                break
            await asyncio.sleep(0.005)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        while self._pending:
            job = self._pending.popleft()
            self._fail(job, ShuttingDown("server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # ---------------------------------------------------------------------------------------- submit
    def submit(self, texts: list[str]) -> asyncio.Future:
        """Queue ``texts`` as one job; returns a future resolving to their results (a list, in order).

        Raises :class:`QueueFull` or :class:`ShuttingDown` at once; the future may fail with
        :class:`DeadlineExceeded` or :class:`InferenceFailed`.
        """
        if self._closing or not self._tasks:
            raise ShuttingDown("server is not accepting requests")
        n = len(texts)
        if n == 0:
            raise ValueError("no texts")
        if self._depth + n > self.max_queue:
            raise QueueFull(f"queue full ({self._depth} of {self.max_queue} texts waiting)")
        if self.admission:
            wait = self.predicted_wait_s(n)
            if wait > self.admission_share * self.timeout_s:
                raise WouldMissDeadline(
                    f"overloaded: {self._depth + self._in_flight} texts ahead need ~{wait * 1000:.0f} ms at "
                    f"{self.rate:.0f} texts/s, over {self.admission_share:.0%} of the "
                    f"{self.timeout_s * 1000:.0f} ms deadline"
                )
        loop = self._loop
        now = time.perf_counter()
        self._mean_gap += 0.1 * (min(now - self._last_submit, 1.0) - self._mean_gap)
        self._last_submit = now
        job = _Job(texts, loop.create_future(), now, now + self.timeout_s)
        job.timer = loop.call_later(self.timeout_s, self._expire, job)
        self._pending.append(job)
        job.queued = True
        self._depth += n
        if self._idle_waiters:
            _wake(self._idle_waiters.pop())
        if self._fill_waiter is not None and self._depth >= self.max_batch:
            _wake(self._fill_waiter)
        return job.future

    # ------------------------------------------------------------------------------------- internals
    def _expire(self, job: _Job) -> None:
        if job.dead or job.future.done():
            return
        job.dead = True
        if job.queued:  # still waiting: it no longer counts towards the bound
            job.queued = False
            self._depth -= job.n
        job.future.set_exception(DeadlineExceeded(f"no answer within {self.timeout_s * 1000:.0f} ms"))

    def _fail(self, job: _Job, exc: Exception) -> None:
        if job.timer is not None:
            job.timer.cancel()
        if not job.dead and not job.future.done():
            job.future.set_exception(exc)
        job.dead = True

    def _take_batch(self) -> list[_Job]:
        """Pop the jobs of the next batch (at least one live job, at most ``max_batch`` texts)."""
        batch: list[_Job] = []
        size = 0
        now = time.perf_counter()
        pending = self._pending
        while pending:
            job = pending[0]
            if job.dead:
                pending.popleft()
                continue
            if batch and size + job.n > self.max_batch:
                break
            pending.popleft()
            job.queued = False
            self._depth -= job.n
            if now >= job.deadline:  # would be late anyway: do not spend model time on it
                job.dead = True
                if job.timer is not None:
                    job.timer.cancel()
                job.future.set_exception(DeadlineExceeded("deadline passed while queued"))
                continue
            batch.append(job)
            size += job.n
            if size >= self.max_batch:
                break
        return batch

    def _oldest_live(self) -> _Job | None:
        pending = self._pending
        while pending and pending[0].dead:
            pending.popleft()
        return pending[0] if pending else None

    async def _worker(self) -> None:
        loop = self._loop
        while True:
            oldest = self._oldest_live()
            if oldest is None:
                waiter = loop.create_future()
                self._idle_waiters.append(waiter)
                try:
                    await waiter
                finally:
                    if waiter in self._idle_waiters:
                        self._idle_waiters.remove(waiter)
                continue
            # Gather: wait until the batch is full or the oldest job has waited max_wait_s; with
            # adaptive_wait, only when the recent arrival rate says another request is due in that time.
            if self._depth < self.max_batch and self.max_wait_s > 0:
                delay = oldest.arrival + self.max_wait_s - time.perf_counter()
                if delay > 0 and (not self.adaptive_wait or delay >= self._mean_gap):
                    waiter = loop.create_future()
                    self._fill_waiter = waiter
                    handle = loop.call_later(delay, _wake, waiter)
                    try:
                        await waiter
                    finally:
                        handle.cancel()
                        self._fill_waiter = None
            batch = self._take_batch()
            if not batch:
                continue
            await self._run(batch)

    async def _run(self, batch: list[_Job]) -> None:
        texts = batch[0].texts if len(batch) == 1 else [t for job in batch for t in job.texts]
        size = len(texts)
        self._in_flight += size
        start = time.perf_counter()
        args: tuple = (texts,)
        if self.degrade_after_s is not None:
            level = int((start - batch[0].arrival) / self.degrade_after_s)  # batch[0]: the oldest job
            if level > 0:
                args = (texts, level)
        try:
            results = await self._loop.run_in_executor(self._executor, self.predict_fn, *args)
        except Exception as exc:
            results = None
            if len(batch) == 1:
                logger.warning("inference failed for %d text(s): %s", size, exc)
                self._fail(batch[0], InferenceFailed(str(exc)))
            else:
                # One bad text must not fail its neighbours: retry each job on its own.
                logger.warning(
                    "batch inference failed (%s); retrying its %d jobs one by one", exc, len(batch)
                )
                for job in batch:
                    if job.dead or job.future.done():
                        continue
                    try:
                        job_results = await self._loop.run_in_executor(
                            self._executor, self.predict_fn, job.texts
                        )
                    except Exception as job_exc:
                        self._fail(job, InferenceFailed(str(job_exc)))
                    else:
                        self._resolve(job, list(job_results))
        finally:
            self._in_flight -= size
        elapsed = time.perf_counter() - start
        self.batches += 1
        self._observe_rate(size, elapsed, backlogged=self._depth > 0)
        if results is not None:
            if len(results) != size:
                err = InferenceFailed(f"predict returned {len(results)} results for {size} texts")
                for job in batch:
                    self._fail(job, err)
            elif len(batch) == 1:
                self._resolve(batch[0], list(results))
            else:
                offset = 0
                for job in batch:
                    self._resolve(job, list(results[offset : offset + job.n]))
                    offset += job.n
        if self.observer is not None:
            self.observer(size, self._depth, elapsed)

    def _observe_rate(self, size: int, elapsed: float, backlogged: bool) -> None:
        if elapsed <= 0:
            return
        rate = size / elapsed
        if backlogged:
            self._busy_rate = _ewma(self._busy_rate, rate)
        else:
            self._idle_rate = _ewma(self._idle_rate, rate)

    @staticmethod
    def _resolve(job: _Job, results: list) -> None:
        if job.timer is not None:
            job.timer.cancel()
        if not job.dead and not job.future.done():
            job.future.set_result(results)
        job.dead = True
