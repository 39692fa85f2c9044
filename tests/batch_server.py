"""A local implementation of the OpenAI files and batches endpoints, for offline-batch tests.

Uploads are stored in memory; a batch moves validating -> in_progress -> finalizing ->
completed, one step per retrieve, and on completion writes an output file (one line per
successful request) and an error file (requests whose last message contains "FAIL" get a 400).
A malformed input file, or one with a repeated ``custom_id``, fails the batch at validation (as
OpenAI's does). A batch holding a request whose message contains "EXPIRE", the first time that
message is seen, ends ``expired``: its output file holds the other requests' answers (already
paid for) and its error file marks the rest ``batch_expired``. ``GET /stats`` counts uploads,
batches and the request lines uploaded.

    python tests/batch_server.py --port 8124
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

from aiohttp import web

STEPS = ["validating", "in_progress", "finalizing", "completed"]


def make_app() -> web.Application:
    files: dict[str, dict] = {}
    contents: dict[str, bytes] = {}
    batches: dict[str, dict] = {}
    ids = itertools.count(1)
    counts = {"uploads": 0, "batches": 0, "retrieves": 0, "lines": 0}
    expired_once: set[str] = set()

    def new_file(data: bytes, name: str, purpose: str) -> dict:
        file_id = f"file-{next(ids)}"
        files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": name,
            "purpose": purpose,
            "status": "processed",
        }
        contents[file_id] = data
        return files[file_id]

    async def upload(request: web.Request) -> web.Response:
        form = await request.post()
        field = form["file"]
        counts["uploads"] += 1
        data = field.file.read()
        counts["lines"] += len(data.splitlines())
        return web.json_response(new_file(data, field.filename, form.get("purpose", "")))

    async def file_info(request: web.Request) -> web.Response:
        return web.json_response(files[request.match_info["id"]])

    async def file_content(request: web.Request) -> web.Response:
        return web.Response(body=contents[request.match_info["id"]], content_type="application/octet-stream")

    async def create_batch(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("endpoint") != "/v1/chat/completions" or body.get("input_file_id") not in files:
            return web.json_response(
                {"error": {"message": "bad batch request", "type": "invalid_request_error"}}, status=400
            )
        counts["batches"] += 1
        now = int(time.time())
        batch_id = f"batch_{next(ids)}"
        batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": body["input_file_id"],
            "completion_window": body.get("completion_window", "24h"),
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": None,
        }
        return web.json_response(batches[batch_id])

    def run(batch: dict) -> None:
        """Answer every request of the input file; write the output and error files."""
        good, bad = [], []
        items = [json.loads(line) for line in contents[batch["input_file_id"]].decode().splitlines()]
        texts = [item["body"]["messages"][-1]["content"] for item in items]
        expiring = {t for t in texts if "EXPIRE" in t and t not in expired_once}
        expired_once.update(expiring)
        if expiring:
            batch.update(status="expired", expired_at=int(time.time()), completed_at=None)
        for item, text in zip(items, texts):
            if text in expiring:
                bad.append(
                    {
                        "id": f"req-{next(ids)}",
                        "custom_id": item["custom_id"],
                        "response": None,
                        "error": {
                            "code": "batch_expired",
                            "message": "This request could not be executed before the completion window expired.",
                        },
                    }
                )
                continue
            if "FAIL" in text:
                bad.append(
                    {
                        "id": f"req-{next(ids)}",
                        "custom_id": item["custom_id"],
                        "response": {
                            "status_code": 400,
                            "request_id": "r",
                            "body": {
                                "error": {"message": "refused on purpose", "type": "invalid_request_error"}
                            },
                        },
                        "error": None,
                    }
                )
                continue
            answer = f"batch answer to {text!r} (seed {item['body'].get('seed')})"
            good.append(
                {
                    "id": f"req-{next(ids)}",
                    "custom_id": item["custom_id"],
                    "error": None,
                    "response": {
                        "status_code": 200,
                        "request_id": "r",
                        "body": {
                            "id": "chatcmpl-batch",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": item["body"]["model"],
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": answer},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {
                                "prompt_tokens": len(text.split()),
                                "completion_tokens": len(answer.split()),
                                "total_tokens": 0,
                            },
                        },
                    },
                }
            )
        batch["request_counts"] = {"total": len(good) + len(bad), "completed": len(good), "failed": len(bad)}
        batch["output_file_id"] = new_file(
            "\n".join(map(json.dumps, good)).encode(), "output.jsonl", "batch_output"
        )["id"]
        if bad:
            batch["error_file_id"] = new_file(
                "\n".join(map(json.dumps, bad)).encode(), "errors.jsonl", "batch_output"
            )["id"]

    async def retrieve(request: web.Request) -> web.Response:
        batch = batches[request.match_info["id"]]
        counts["retrieves"] += 1
        if batch["status"] in STEPS[:-1]:
            if batch["status"] == "validating":
                problem = None
                try:
                    custom_ids = []
                    for line in contents[batch["input_file_id"]].decode().splitlines():
                        item = json.loads(line)
                        item["body"]["messages"]
                        custom_ids.append(item["custom_id"])
                    if len(set(custom_ids)) < len(custom_ids):
                        problem = ("duplicate_custom_id", "The custom_id of each request must be unique.")
                except (ValueError, KeyError, TypeError):
                    problem = ("invalid_json_line", "bad input")
                if problem is not None:
                    batch.update(
                        status="failed",
                        failed_at=int(time.time()),
                        errors={"object": "list", "data": [{"code": problem[0], "message": problem[1]}]},
                    )
                    return web.json_response(batch)
            batch["status"] = STEPS[STEPS.index(batch["status"]) + 1]
            now = int(time.time())
            batch[
                {"in_progress": "in_progress_at", "finalizing": "finalizing_at", "completed": "completed_at"}[
                    batch["status"]
                ]
            ] = now
            if batch["status"] == "completed":
                run(batch)  # may end it as expired instead
        return web.json_response(batch)

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "batch-model", "object": "model"}]})

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({**counts, "statuses": {b: x["status"] for b, x in batches.items()}})

    app = web.Application(client_max_size=64 * 1024**2)
    app.router.add_post("/v1/files", upload)
    app.router.add_get("/v1/files/{id}", file_info)
    app.router.add_get("/v1/files/{id}/content", file_content)
    app.router.add_post("/v1/batches", create_batch)
    app.router.add_get("/v1/batches/{id}", retrieve)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/stats", stats)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    web.run_app(make_app(), host="127.0.0.1", port=parser.parse_args().port, print=None)
