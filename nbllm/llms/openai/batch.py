"""Offline batch generation through the OpenAI Batch API (distilabel 1.x semantics).

This is OpenAILLM's raw batch call: the engine looks up its cache first and hands over only
the samples it is missing, each with its cache key. Every request goes up once, with that key
as its ``custom_id`` (a prompt repeated in one call is one request, its answer given to each
copy), so an answer can only ever land on the sample it was asked for. A job that ends expired
or cancelled still has the answers it made (already paid for): they are kept, and only the
missing requests are sent by the next call. The job
ids are kept on the LLM (``jobs_ids``) and in a record on disk named after the set of keys, so
a later call with the same inputs — after a kernel restart too — resumes the same jobs, and a
call with other inputs never collects them. Without ``block_until_done`` an unfinished job
raises BatchNotFinishedError carrying the job ids; with it, nbllm polls every that many seconds.

Runs on the I/O loop, as OpenAILLM's raw batch call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Optional, Protocol, Union

from nbllm.engine.cache import default_cache_dir
from nbllm.engine.requests import RawGeneration, RawRequest
from nbllm.errors import BackendError, BatchNotFinishedError, NBLLMError, UsageError
from nbllm.llms.openai.wire import generations

PENDING = {"validating", "in_progress", "finalizing", "cancelling"}
WITH_OUTPUT = {"completed", "expired", "cancelled"}  # ended, with the answers made before the end
MAX_REQUESTS_PER_JOB = 50_000
Answers = dict[str, Union[RawGeneration, NBLLMError]]


def records_dir() -> Path:
    return default_cache_dir() / "batches"


class BatchOwner(Protocol):
    """What a batch needs of the LLM it runs for (OpenAILLM): the request body of each request,
    and where to keep the ids of its jobs."""

    jobs_ids: Optional[tuple[str, ...]]

    def request_body(self, request: RawRequest) -> dict[str, Any]: ...


class OfflineBatch:
    """The samples one call is missing, the batch jobs that answer them, and their answers."""

    def __init__(self, llm: BatchOwner, work: list[tuple[str, RawRequest]]) -> None:
        self.llm = llm
        self.work = dict(work)  # one request per key: a repeated prompt is sent once
        digest = hashlib.sha256("\n".join(sorted(self.work)).encode()).hexdigest()
        self.record = records_dir() / f"{digest[:32]}.json"

    async def run(self, client: Any, every: float | None) -> Answers:
        job_ids = self.saved_job_ids() or self._given_job_ids() or await self.submit(client)
        self.llm.jobs_ids = job_ids
        jobs = await self.poll(client, job_ids, every)
        answers = await self.results(client, jobs)
        self.record.unlink(missing_ok=True)
        return answers

    # -- which jobs ------------------------------------------------------------------------------
    def saved_job_ids(self) -> tuple[str, ...] | None:
        if self.record.exists():
            return tuple(json.loads(self.record.read_text())["job_ids"])
        return None

    def _given_job_ids(self) -> tuple[str, ...] | None:
        """Job ids the user set on the LLM, unless nbllm knows them as another input set's."""
        given = self.llm.jobs_ids
        if not given or (
            records_dir().is_dir()
            and any(
                set(given) & set(json.loads(path.read_text()).get("job_ids", ()))
                for path in records_dir().glob("*.json")
                if path != self.record
            )
        ):
            return None
        return tuple(given)

    def requests(self) -> list[dict[str, Any]]:
        return [
            {
                "custom_id": key,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": self.llm.request_body(request),
            }
            for key, request in self.work.items()
        ]

    async def submit(self, client: Any) -> tuple[str, ...]:
        requests = self.requests()
        job_ids = []
        for start in range(0, len(requests), MAX_REQUESTS_PER_JOB):
            chunk = requests[start : start + MAX_REQUESTS_PER_JOB]
            data = "\n".join(json.dumps(line) for line in chunk).encode()
            uploaded = await client.files.create(file=("nbllm-batch.jsonl", data), purpose="batch")
            job = await client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            job_ids.append(job.id)
        self.record.parent.mkdir(parents=True, exist_ok=True)
        self.record.write_text(
            json.dumps({"job_ids": job_ids, "created": time.time(), "requests": len(requests)})
        )
        return tuple(job_ids)

    # -- collecting ------------------------------------------------------------------------------
    async def poll(self, client: Any, job_ids: tuple[str, ...], every: float | None) -> list[Any]:
        while True:
            jobs = [await client.batches.retrieve(job_id) for job_id in job_ids]
            if not any(j.status in PENDING for j in jobs):
                return jobs
            if every is None:
                states = ", ".join(f"{j.id}: {j.status}" for j in jobs)
                raise BatchNotFinishedError(
                    f"the offline batch is not finished yet ({states}); call generate again with the "
                    "same inputs later to collect it, or set offline_batch_generation_block_until_done "
                    "to wait.",
                    job_ids,
                )
            await asyncio.sleep(every)

    async def results(self, client: Any, jobs: list[Any]) -> Answers:
        wanted = set(self.work)
        answers: Answers = {}
        seen = 0
        for job in jobs:
            if job.status not in WITH_OUTPUT:
                continue
            for file_id in (job.output_file_id, job.error_file_id):
                if not file_id:
                    continue
                content = await client.files.content(file_id)
                for line in content.text.splitlines():
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    seen += 1
                    key = row.get("custom_id")
                    if key in wanted:
                        answers[key] = _answer(row)
        if seen and not wanted & answers.keys():
            raise UsageError(
                f"the batch jobs {', '.join(j.id for j in jobs)} in llm.jobs_ids answer other inputs "
                "than these; set llm.jobs_ids = None to submit these inputs."
            )
        ended = [j for j in jobs if j.status != "completed"]
        if ended:
            states = ", ".join(f"{j.id} ended as {j.status}" for j in ended)
            unanswered = BackendError(
                f"batch job {states} before answering this request; the answers it made are kept, "
                "and calling generate again sends only the requests still missing."
            )
            for key in wanted - answers.keys():
                answers[key] = unanswered
        return answers


def _answer(row: dict[str, Any]) -> RawGeneration | NBLLMError:
    response = row.get("response") or {}
    if response.get("status_code") == 200 and not row.get("error"):
        try:
            return generations(response["body"], "the batch")[0]
        except BackendError as exc:
            return exc
    detail = row.get("error") or (response.get("body") or {}).get("error") or response
    message = detail.get("message", detail) if isinstance(detail, dict) else detail
    if isinstance(detail, dict) and detail.get("code") in ("batch_expired", "batch_cancelled"):
        return BackendError(f"{message} Calling generate again sends this request in a new batch.")
    return BackendError(f"a batch request failed ({response.get('status_code')}): {message}")
