"""Running a table of prompts over a pool in chunks: the cache first, then one chunk at a time
per live member; a member that dies is restarted and its chunk rescheduled, and a chunk that
kills its worker twice is split down to the row that does it.

Runs on the caller's thread, which waits on the members' Futures and reports progress.
"""

from __future__ import annotations

import collections
import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

from nbllm.core.messages import to_batch
from nbllm.core.outputs import GenerateOutput, Generation
from nbllm.core.results import RunResult
from nbllm.core.views import view
from nbllm.errors import BackendError, NBLLMError, UsageError, WorkerDiedError, WorkerLoadError
from nbllm.scale import shared_cache

Progress = Callable[[int, int], Any]


KILLS_PER_CHUNK = 2  # a chunk (or row) that kills its worker this often is the cause, not chance


def run_chunks(
    members: Sequence[Any],
    prompts: list[Any],
    chunk_size: int,
    num_generations: int,
    params: dict[str, Any],
    progress: Progress | None = None,
    send: Callable[[Any, list[Any]], concurrent.futures.Future[Any]] | None = None,
    keep: Callable[[int, list[Any]], Any] | None = None,
) -> list[Any]:
    """One output per prompt, in order. Each live member holds one chunk at a time.

    A member that dies is restarted where it can be (``member.restart()`` returns True) and
    its chunk goes back to the queue; the answer is taken once, from whichever member finishes
    it. A chunk that killed its worker twice is split into single rows, and a row that killed
    its worker twice alone gets the error, so one poison prompt cannot kill worker after worker.
    A chunk refused as a whole (one bad prompt) is split into single rows, so only the bad row
    keeps the error. `send(member, prompts)` replaces ``member.generate`` (to run a generator
    there); its Future gives one result per prompt. `keep(first, results)` is called with each
    chunk's results as it finishes (so an interrupt or a later error loses none of them); on an
    interrupt the chunks not yet sent are never sent and those in flight are cancelled where
    their member can cancel them."""
    if send is None:

        def send(member: Any, part: list[Any]) -> concurrent.futures.Future[Any]:
            return member.generate(part, num_generations, **params)

    if chunk_size < 1:
        raise UsageError("chunk_size must be at least 1.")
    queue = collections.deque(
        (s, min(s + chunk_size, len(prompts))) for s in range(0, len(prompts), chunk_size)
    )
    kills: collections.Counter[tuple[int, int]] = collections.Counter()
    results: dict[int, Any] = {}
    alive = set(range(len(members)))
    flying: dict[concurrent.futures.Future[Any], tuple[int, tuple[int, int]]] = {}
    try:
        lost = _schedule(members, prompts, send, queue, flying, alive, kills, results, progress, keep)
    except BaseException:  # an interrupt (or an error in a callback): stop the work under way
        for future in flying:
            future.cancel()
        raise
    return _outputs(prompts, results, lost, num_generations)


def _schedule(
    members: Sequence[Any],
    prompts: list[Any],
    send: Callable[[Any, list[Any]], concurrent.futures.Future[Any]],
    queue: collections.deque[tuple[int, int]],
    flying: dict[concurrent.futures.Future[Any], tuple[int, tuple[int, int]]],
    alive: set[int],
    kills: collections.Counter[tuple[int, int]],
    results: dict[int, Any],
    progress: Progress | None,
    keep: Callable[[int, list[Any]], Any] | None,
) -> BaseException | None:
    """Sends chunks to free members until every row has its result; the last member's death,
    for rows nobody was left to do."""
    lost: BaseException | None = None
    while queue or flying:
        busy = {member for member, _ in flying.values()}
        for member in sorted(alive - busy):
            if not queue:
                break
            chunk = queue.popleft()
            flying[send(members[member], prompts[chunk[0] : chunk[1]])] = (member, chunk)
        if not flying:
            break  # nobody left to send the queue to
        finished, _ = concurrent.futures.wait(flying, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in finished:
            member, (first, end) = flying.pop(future)
            error = future.exception()
            if isinstance(error, WorkerLoadError):  # the member's fault, not the chunk's
                alive.discard(member)
                lost = error
                queue.appendleft((first, end))
                continue
            if isinstance(error, WorkerDiedError):
                lost = error
                if not _restart(members[member]):
                    alive.discard(member)
                kills[first, end] += 1
                if kills[first, end] < KILLS_PER_CHUNK:
                    queue.appendleft((first, end))  # rescheduled: the death may have been chance
                    continue
                if end - first > 1:
                    queue.extendleft((i, i + 1) for i in reversed(range(first, end)))
                    continue
                error = WorkerDiedError(
                    f"this row killed its worker {KILLS_PER_CHUNK} times, so it was not sent again "
                    f"(the last death: {error})"
                )
            elif error is not None and end - first > 1:
                queue.extendleft((i, i + 1) for i in reversed(range(first, end)))
                continue
            for index in range(first, end):
                results[index] = error if error is not None else future.result()[index - first]
            if keep is not None and error is None:
                keep(first, future.result())
            if progress is not None:
                progress(len(results), len(prompts))
    return lost


def _outputs(
    prompts: list[Any], results: dict[int, Any], lost: BaseException | None, num_generations: int
) -> list[Any]:
    outputs: list[GenerateOutput] = []
    for index in range(len(prompts)):
        result = results.get(index)
        if index in results and not isinstance(result, BaseException):
            outputs.append(result)
            continue
        error = result or WorkerDiedError(
            f"every member of the pool died before this row was done (the last: {lost})."
        )
        failure = error if isinstance(error, NBLLMError) else BackendError(f"{type(error).__name__}: {error}")
        generations = [Generation(None, sample_index=i, error=failure) for i in range(num_generations)]
        outputs.append(GenerateOutput("", generations, tuple(to_batch([prompts[index]])[0])))
    return outputs


def _restart(member: Any) -> bool:
    """Start a dead member again; False when it cannot be (torn down, no restart, failed)."""
    restart = getattr(member, "restart", None)
    if restart is None:
        return False
    try:
        return bool(restart())
    except Exception:
        return False


def generate_frame(
    pool: Any,
    frame: Any,
    column: str,
    num_generations: int,
    chunk_size: int,
    cache_llm: Any,
    progress: bool | Progress,
    params: dict[str, Any],
) -> Any:
    """See LLMPool.generate_frame."""
    prompts = _column(frame, column)
    cached = (
        shared_cache.cached(cache_llm, prompts, num_generations, **params)
        if cache_llm is not None
        else [None] * len(prompts)
    )
    missing = [i for i, output in enumerate(cached) if output is None]
    sent = [prompts[i] for i in missing]

    def keep(first: int, outputs: list[Any]) -> None:  # each chunk cached as it finishes
        shared_cache.remember(cache_llm, sent[first : first + len(outputs)], outputs, **params)

    report, close = _progress(progress, len(missing))
    try:
        made = run_chunks(
            pool.llms, sent, chunk_size, num_generations, params, report,
            keep=keep if cache_llm is not None else None,
        )  # fmt: skip
    finally:
        close()
    outputs = list(cached)
    for index, output in zip(missing, made):
        outputs[index] = output
    result = view("dataframe", outputs)
    result.insert(0, "row", [frame.index[i] for i in result["input_index"]])
    result.attrs["rows_sent"] = len(missing)
    result.attrs["rows_from_cache"] = len(prompts) - len(missing)
    return result


def run_generator_frame(
    pool: Any,
    frame: Any,
    column: str,
    chunk_size: int,
    make_generator: Callable[[Any], Any],
    progress: bool | Progress,
    params: dict[str, Any],
) -> Any:
    """See LLMPool.generate_frame(generator=...)."""
    inputs = _column(frame, column)
    report, close = _progress(progress, len(inputs))
    try:
        results = run_chunks(
            pool.llms, inputs, chunk_size, 1, params, report,
            send=lambda member, part: member.run_generator(make_generator, part, **params),
        )  # fmt: skip
    finally:
        close()
    rows = []
    for index, result in enumerate(results):
        if isinstance(result, GenerateOutput):  # the row failed: keep its error as a run
            result = RunResult(index, 0, inputs[index], None, error=result.generations[0].error)
        _renumber(result, index)
        rows.append(result)
    table = view("dataframe", rows)
    table.insert(0, "row", [frame.index[i] for i in table["input_index"]])
    table.attrs["rows_sent"] = len(inputs)
    return table


def _column(frame: Any, column: str) -> list[Any]:
    if column not in frame.columns:
        raise UsageError(f"the frame has no column {column!r}; its columns: {list(frame.columns)}.")
    return list(frame[column])


def _renumber(result: Any, index: int) -> None:
    """Number a chunk's results by their row in the whole table (a generator numbers from 0)."""
    if isinstance(result, list):
        for item in result:
            _renumber(item, index)
    elif hasattr(result, "input_index"):
        result.input_index = index


def _progress(progress: bool | Progress, total: int) -> tuple[Progress | None, Callable[[], None]]:
    if callable(progress):
        return progress, lambda: None
    if not progress or not total:
        return None, lambda: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="rows", unit="row")

    def update(done: int, _: int) -> None:
        bar.update(done - bar.n)

    return update, bar.close
