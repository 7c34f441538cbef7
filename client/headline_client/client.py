"""`Client` and `AsyncClient`: classify texts and pairs, rerank, stream a JSON Lines file; for a
server's URL or a SageMaker endpoint. Both split big lists to fit the payload limit and retry
shed requests (503/429) within a budget, honouring `Retry-After`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from headline_client import bodies
from headline_client.retry import RetryBudget, RetryPolicy
from headline_client.transport import (
    AsyncHttpTransport,
    HttpTransport,
    Reply,
    Request,
    SageMakerTarget,
    SageMakerTransport,
)
from headline_client.types import Answer, RerankResult, TextOrPair


class _Options:
    def __init__(
        self,
        url: str | None,
        sagemaker: SageMakerTarget | None,
        max_payload_bytes: int,
        max_items: int,
        retry: RetryPolicy | None,
    ) -> None:
        if (url is None) == (sagemaker is None):
            raise ValueError("give a server url or a SageMakerTarget, one of them")
        self.url = url
        self.sagemaker = sagemaker
        self.max_bytes = max_payload_bytes
        self.max_items = max_items
        self.retry = retry or RetryPolicy()

    @staticmethod
    def parameters(threshold: float | None, truncation: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if threshold is not None:
            params["threshold"] = threshold
        if truncation is not None:
            params["truncation"] = truncation
        return params


class _ClientBase:
    """What both clients take: a server URL or a SageMaker endpoint, and the limits."""

    def __init__(
        self,
        url: str | None = None,
        *,
        sagemaker: SageMakerTarget | None = None,
        timeout_s: float = 60.0,
        max_payload_bytes: int = bodies.SAGEMAKER_PAYLOAD_BYTES,
        max_items: int = 1024,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._options = _Options(url, sagemaker, max_payload_bytes, max_items, retry)
        self.retries = 0
        """Requests sent again after a 503/429, over this client's life."""
        self._open(url, sagemaker, timeout_s)

    def _open(self, url: str | None, sagemaker: SageMakerTarget | None, timeout_s: float) -> None:
        raise NotImplementedError


class Client(_ClientBase):
    """Blocking client. `Client("http://127.0.0.1:8080")` or
    `Client(sagemaker=SageMakerTarget("my-endpoint", region_name="eu-west-1"))`."""

    def _open(self, url: str | None, sagemaker: SageMakerTarget | None, timeout_s: float) -> None:
        self._transport: HttpTransport | SageMakerTransport = (
            HttpTransport(url, timeout_s) if url else SageMakerTransport(sagemaker, timeout_s)  # type: ignore[arg-type]
        )

    @property
    def transport(self) -> HttpTransport | SageMakerTransport:
        return self._transport

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def send(self, request: Request) -> bytes:
        """One request, retried while shed and the budget lasts; the body, or ServerError."""
        budget = RetryBudget(self._options.retry)
        while True:
            reply = self._transport.send(request)
            wait = _wait(reply, budget)
            if wait is None:
                return bodies.check(reply)
            self.retries += 1
            time.sleep(wait)

    def classify(
        self,
        texts: Sequence[TextOrPair],
        *,
        threshold: float | None = None,
        truncation: str | None = None,
    ) -> list[Answer]:
        """One typed answer per text or `(text, text_pair)` pair, in order."""
        o = self._options
        requests = bodies.classify_requests(
            texts, o.parameters(threshold, truncation), o.max_bytes, o.max_items
        )
        return [a for r in requests for a in bodies.answers(self.send(r))]

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        raw_scores: bool = False,
    ) -> list[RerankResult]:
        """Documents by relevance to `query`, highest first, through a cross-encoder."""
        o = self._options
        if o.sagemaker is not None:
            answers = self.classify([(query, d) for d in documents])
            return bodies.pair_scores_as_rerank(answers, documents, top_n)
        parts = bodies.rerank_requests(query, documents, raw_scores, o.max_bytes, o.max_items)
        return bodies.rerank_results(
            ((offset, self.send(r)) for offset, r in parts), documents, top_n
        )

    def classify_file(self, source: str | Path, destination: str | Path) -> int:
        """Stream a JSON Lines file through `/invocations`, a payload at a time; write one answer
        line per record, in order. Returns the records answered."""
        o = self._options
        done = 0
        with Path(source).open("rb") as lines, Path(destination).open("wb") as out:
            for count, request in bodies.jsonlines_requests(lines, o.max_bytes, o.max_items):
                out.write(self.send(request))
                done += count
        return done


class AsyncClient(_ClientBase):
    """The same, for asyncio (a SageMaker call runs boto3 on a worker thread)."""

    def _open(self, url: str | None, sagemaker: SageMakerTarget | None, timeout_s: float) -> None:
        self._http = AsyncHttpTransport(url, timeout_s) if url else None
        self._sagemaker = SageMakerTransport(sagemaker, timeout_s) if sagemaker else None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._sagemaker is not None:
            self._sagemaker.close()

    async def _send_once(self, request: Request) -> Reply:
        if self._http is not None:
            return await self._http.send(request)
        assert self._sagemaker is not None
        return await asyncio.to_thread(self._sagemaker.send, request)

    async def send(self, request: Request) -> bytes:
        budget = RetryBudget(self._options.retry)
        while True:
            reply = await self._send_once(request)
            wait = _wait(reply, budget)
            if wait is None:
                return bodies.check(reply)
            self.retries += 1
            await asyncio.sleep(wait)

    async def classify(
        self,
        texts: Sequence[TextOrPair],
        *,
        threshold: float | None = None,
        truncation: str | None = None,
    ) -> list[Answer]:
        """Parts are sent concurrently; the server batches them together."""
        o = self._options
        requests = bodies.classify_requests(
            texts, o.parameters(threshold, truncation), o.max_bytes, o.max_items
        )
        replies = await asyncio.gather(*(self.send(r) for r in requests))
        return [a for body in replies for a in bodies.answers(body)]

    async def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        raw_scores: bool = False,
    ) -> list[RerankResult]:
        o = self._options
        if o.sagemaker is not None:
            answers = await self.classify([(query, d) for d in documents])
            return bodies.pair_scores_as_rerank(answers, documents, top_n)
        parts = bodies.rerank_requests(query, documents, raw_scores, o.max_bytes, o.max_items)
        replies = await asyncio.gather(*(self.send(r) for _, r in parts))
        offsets = [offset for offset, _ in parts]
        return bodies.rerank_results(zip(offsets, replies, strict=True), documents, top_n)

    async def classify_file(self, source: str | Path, destination: str | Path) -> int:
        o = self._options
        done = 0
        with Path(source).open("rb") as lines, Path(destination).open("wb") as out:
            for count, request in bodies.jsonlines_requests(lines, o.max_bytes, o.max_items):
                out.write(await self.send(request))
                done += count
        return done


def _wait(reply: Reply, budget: RetryBudget) -> float | None:
    """Seconds to wait before trying again, or None: answer now (success or final error)."""
    if 200 <= reply.status < 300:
        return None
    return budget.delay(reply.status, reply.headers.get("retry-after"))
