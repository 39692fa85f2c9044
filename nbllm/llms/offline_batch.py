"""Offline batch generation through the OpenAI Batch API (distilabel 1.x semantics).

The requests go up as one JSONL file per batch job; the job ids are kept on the LLM and in a
record on disk, so a later call — after a kernel restart too — resumes the same jobs instead
of submitting new ones. Without ``block_until_done`` an unfinished job raises
BatchNotFinishedError carrying the job ids; with it, nbllm polls every that many seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbllm.core.messages import Messages
from nbllm.core.outputs import GenerateOutput, GenerateOutputs, Generation, GenerationStats
from nbllm.engine.cache import default_cache_dir
from nbllm.errors import BackendError, BatchNotFinishedError

if TYPE_CHECKING:
    from nbllm.llms.openai_compatible import OpenAILLM

PENDING = {"validating", "in_progress", "finalizing", "cancelling"}
MAX_REQUESTS_PER_JOB = 50_000


def records_dir() -> Path:
    return default_cache_dir() / "batches"


class OfflineBatch:
    """One batch generation: the requests of some inputs, their jobs and their results."""

    def __init__(
        self, llm: OpenAILLM, batch: list[Messages], num_generations: int, params: dict[str, Any]
    ) -> None:
        self.llm = llm
        self.batch = batch
        self.n = num_generations
        self.params = params
        key = json.dumps(
            [llm.cache_identity(), [list(m) for m in batch], num_generations, params],
            sort_keys=True,
            default=str,
        )
        self.record = records_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    # -- submitting ------------------------------------------------------------------------------
    def requests(self) -> list[dict[str, Any]]:
        lines = []
        for i, messages in enumerate(self.batch):
            for k in range(self.n):
                body: dict[str, Any] = {"model": self.llm.model, "messages": list(messages), **self.params}
                if "seed" in body and k:
                    body["seed"] = (body["seed"] + k) % 2**32
                lines.append(
                    {"custom_id": f"{i}:{k}", "method": "POST", "url": "/v1/chat/completions", "body": body}
                )
        return lines

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

    def saved_job_ids(self) -> tuple[str, ...] | None:
        if self.record.exists():
            return tuple(json.loads(self.record.read_text())["job_ids"])
        return None

    def forget(self) -> None:
        self.record.unlink(missing_ok=True)

    # -- collecting ------------------------------------------------------------------------------
    async def poll(self, client: Any, job_ids: tuple[str, ...], every: float | None) -> list[Any]:
        while True:
            jobs = [await client.batches.retrieve(job_id) for job_id in job_ids]
            waiting = [j for j in jobs if j.status in PENDING]
            if not waiting:
                return jobs
            if every is None:
                states = ", ".join(f"{j.id}: {j.status}" for j in jobs)
                raise BatchNotFinishedError(
                    f"the offline batch is not finished yet ({states}); call generate again later to "
                    "collect it, or set offline_batch_generation_block_until_done to wait.",
                    job_ids,
                )
            await asyncio.sleep(every)

    async def results(self, client: Any, jobs: list[Any]) -> GenerateOutputs:
        answers: dict[str, dict[str, Any]] = {}
        failures: dict[str, BackendError] = {}
        for job in jobs:
            if job.status != "completed":
                for i in range(len(self.batch)):
                    for k in range(self.n):
                        failures.setdefault(
                            f"{i}:{k}", BackendError(f"batch job {job.id} ended as {job.status}")
                        )
                continue
            for file_id in (job.output_file_id, job.error_file_id):
                if not file_id:
                    continue
                content = await client.files.content(file_id)
                for line in content.text.splitlines():
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    response = row.get("response") or {}
                    if response.get("status_code") == 200 and not row.get("error"):
                        answers[row["custom_id"]] = response["body"]
                    else:
                        detail = row.get("error") or (response.get("body") or {}).get("error") or response
                        message = detail.get("message", detail) if isinstance(detail, dict) else detail
                        failures[row["custom_id"]] = BackendError(
                            f"batch request {row['custom_id']} failed ({response.get('status_code')}): {message}"
                        )
        latency = max((_took(job) for job in jobs), default=0.0)
        outputs = GenerateOutputs()
        for i, messages in enumerate(self.batch):
            generations = []
            for k in range(self.n):
                custom_id = f"{i}:{k}"
                if custom_id in answers:
                    body = answers[custom_id]
                    usage = body.get("usage") or {}
                    stats = GenerationStats(
                        input_tokens=usage.get("prompt_tokens", 0),
                        output_tokens=usage.get("completion_tokens", 0),
                        latency=latency,
                        finish_reason=body["choices"][0].get("finish_reason"),
                    )
                    generations.append(Generation(body["choices"][0]["message"]["content"], stats, k))
                else:
                    error = failures.get(custom_id, BackendError(f"batch request {custom_id} has no result"))
                    generations.append(Generation(None, GenerationStats(), k, error=error))
            outputs.append(GenerateOutput(self.llm.model_name, generations, messages, self.params))
        return outputs


def _took(job: Any) -> float:
    start = getattr(job, "in_progress_at", None) or getattr(job, "created_at", None)
    end = getattr(job, "completed_at", None)
    return float(end - start) if start and end else 0.0
