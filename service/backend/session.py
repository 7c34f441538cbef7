"""The model: an ONNX Runtime session over the artifact's graph, and its tokenizer.

`run` is called by one thread at a time (the inference thread, or the event loop's for a lone
request: service/core/batcher.py). It feeds the inputs the manifest lists
(token_type_ids all 0 for single texts, as Hugging Face tokenizers give) and applies the
manifest's activation: softmax for single-label models, sigmoid for multi-label ones.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from service.backend.artifact import ArtifactError, Precision, load_manifest
from service.backend.device import CUDA
from service.backend.plan import ExecutionPlan
from service.backend.segmenter import Item, Policy, Segmented, Segmenter
from service.backend.shared_tables import mapped_tables
from service.backend.tokenizer import TextEncoder
from service.memory import resident_mb

log = logging.getLogger(__name__)

# Texts of several kinds and lengths for checking a variant against fp32 at start.
CHECK_TEXTS = (
    "Stocks rally as the central bank holds interest rates steady",
    "Striker scores twice as the champions extend their lead",
    "New vaccine trial shows promise in early patients",
    "Chip maker unveils a faster processor for phones and laptops",
    "The service was slow and the food arrived cold, I will not order again",
    "Parliament votes on the budget after a long night of debate in the capital",
    "ok",
)


class BusyFlags(Protocol):
    """Which workers run a batch now (service.busy_signal.BusySignal)."""

    def set_busy(self, busy: bool) -> None: ...
    def others_busy(self) -> bool: ...


def _session_options(threads: int, spin_wait: bool, spin_between_runs: bool = False) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_wait else "0")
    # Spin inside a run (its parallel sections start at once), not after it: a pool thread
    # spinning between requests takes a core from the HTTP work and the client (measured at
    # concurrency 1: p50 1.16 -> 0.93 ms, server CPU per request 2.4 -> 1.5 ms).
    if not spin_between_runs:
        options.add_session_config_entry("session.force_spinning_stop", "1")
    # No CPU arena: a worker's arenas grew to the largest batch ever run and kept it (about
    # 20 MB a session, measured on the default model); plain malloc returns it and ran a
    # headline and a batch of 8 as fast here (docs/serving.md, memory).
    options.enable_cpu_mem_arena = False
    return options


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    scores: np.ndarray = logits.astype(np.float32, copy=True)
    np.negative(scores, out=scores)
    np.exp(scores, out=scores)
    scores += 1.0
    np.reciprocal(scores, out=scores)
    return scores


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted: np.ndarray = logits.astype(np.float32, copy=False) - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


class OnnxBackend:
    """Loads and checks the artifact, owns the session; `run` gives the model's scores
    (softmax probabilities). It runs the model where the execution plan says."""

    def __init__(
        self,
        model_dir: Path,
        plan: ExecutionPlan,
        *,
        chunk_stride: int = 64,
        variant_tolerance: float = 0.02,
        busy: BusyFlags | None = None,
        spin_between_runs: bool = False,
    ) -> None:
        """`spin_between_runs` keeps ONNX Runtime's default of pool threads spinning after a
        run too: for in-process benchmarks that call the model back to back, never a server."""
        started_mb = resident_mb()
        self.manifest = load_manifest(model_dir)
        self.plan = plan
        options = functools.partial(
            _session_options, plan.intra_op_threads, plan.spin_wait, spin_between_runs
        )
        self._tables: dict[Path, list[tuple[str, Any]]] = {}
        self.precision: Precision = plan.precision
        self.variant_note = ""
        self._session = self._open(model_dir, options, self.precision)
        self.provider = self._session.get_providers()[0]
        if self.provider != plan.providers[0]:
            # The plan's probe found this provider working; a later failure is not silent.
            log.warning("planned %s but the session runs on %s", plan.providers[0], self.provider)
        session_mb = resident_mb()
        self.encoder = TextEncoder.for_artifact(model_dir, self.manifest)
        self.segmenter = Segmenter(
            model_dir / self.manifest.tokenizer,
            self.manifest.max_length,
            stride=chunk_stride,
        )
        self.activation = self.manifest.activation
        self._finish = _sigmoid if self.activation == "sigmoid" else _softmax
        self._type_ids = "token_type_ids" in self.manifest.input_names
        self.labels = list(self.manifest.labels)
        self._io_binding = self.provider == CUDA
        self._busy: BusyFlags | None = None
        self._lone: Any = None
        tokenizer_mb = resident_mb()
        self._check_unverified_variant(model_dir, options, variant_tolerance)
        # A second session with every core, for batches that run while the other workers
        # are idle (a lone request). Its threads spin between operators: for a short text
        # that is most of the gain (measured: 0.89 against 1.15 ms p50 at concurrency 1),
        # and nobody else wants the cores then.
        self._busy = busy
        if busy is not None and plan.lone_request_threads > plan.intra_op_threads:
            lone_options = functools.partial(
                _session_options, plan.lone_request_threads, spin_wait=True
            )
            self._lone = self._open(model_dir, lone_options, self.precision)
        self.memory_mb = {
            "python": started_mb,
            "sessions": session_mb - started_mb + resident_mb() - tokenizer_mb,
            "tokenizer": tokenizer_mb - session_mb,
            "warm_up": 0.0,
        }
        """Resident MB by part (service/memory.py): before the sessions, the sessions, the
        tokenizers, what the warm-up left."""
        log.info(
            "serving model %s on %s, variant %s",
            self.manifest.model_version,
            self.provider,
            self.precision,
        )

    def _check_unverified_variant(
        self, model_dir: Path, options: Callable[[], Any], tolerance: float
    ) -> None:
        """A variant not yet checked on this device (fp16 built without a GPU) is compared with
        fp32 on real texts before the server says it is ready; beyond `tolerance` (largest
        score difference) or on a different top label, fp32 serves instead."""
        variant = self.manifest.variants[self.precision]
        if self.precision == "fp32" or self.device in variant.verified_on:
            return
        candidate = self.run_texts(CHECK_TEXTS)
        chosen: Precision = self.precision
        self._session = self._open(model_dir, options, "fp32")
        self.precision = "fp32"
        reference = self.run_texts(CHECK_TEXTS)
        diff = float(np.abs(candidate - reference).max())
        if self.activation == "sigmoid":  # multi-label: the same labels above 0.5
            agree = bool(((candidate > 0.5) == (reference > 0.5)).all())
        else:
            agree = bool((candidate.argmax(axis=1) == reference.argmax(axis=1)).all())
        if agree and diff <= tolerance:
            self._session, self.precision = self._open(model_dir, options, chosen), chosen
            self.variant_note = f"{chosen} checked on {self.device}: max score diff {diff:.2g}"
            log.info("%s", self.variant_note)
            return
        self.variant_note = (
            f"{chosen} disagrees with fp32 on {self.device} (max score diff {diff:.2g}, "
            f"top labels {'agree' if agree else 'differ'}): serving fp32"
        )
        log.warning("%s", self.variant_note)

    def run_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Scores for `texts`, each run alone (no padding): the variant check's measure."""
        rows = []
        for ids in self.encoder.encode(texts):
            feed = np.asarray([ids], dtype=np.int64)
            rows.append(self.run(feed, np.ones_like(feed))[0])
        return np.stack(rows)

    def _open(self, model_dir: Path, options: Callable[[], Any], precision: Precision) -> Any:
        """A session on the variant's graph; `options` makes its (fresh) SessionOptions."""
        import onnxruntime as ort

        file = self.manifest.variant_for(self.plan.device, precision).file
        sess_options = options()
        if self.plan.device == "cpu":
            # Embedding tables mapped from the file, shared by this worker's sessions and,
            # through the page cache, by the other workers (service/backend/shared_tables.py).
            path = model_dir / file
            if path not in self._tables:
                self._tables[path] = mapped_tables(path)
            for name, value in self._tables[path]:
                sess_options.add_initializer(name, value)
        try:
            session = ort.InferenceSession(
                str(model_dir / file),
                sess_options=sess_options,
                providers=list(self.plan.providers),
            )
        except Exception as exc:  # onnxruntime raises several unrelated types for a bad graph
            raise ArtifactError(f"{model_dir / file}: ONNX Runtime cannot load it ({exc})") from exc
        self._check_signature(session, file)
        return session

    @property
    def device(self) -> Literal["cpu", "cuda"]:
        return "cuda" if self.provider == CUDA else "cpu"

    @property
    def pad_id(self) -> int:
        return self.encoder.pad_id

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return self.encoder.encode(texts)

    def segment(self, texts: Sequence[Item], policy: Policy) -> list[Segmented]:
        return self.segmenter.segment(texts, policy)

    def _check_signature(self, session: Any, file: str) -> None:
        inputs = {i.name for i in session.get_inputs()}
        if inputs != set(self.manifest.input_names):
            raise ArtifactError(
                f"{file}: inputs {sorted(inputs)} but the manifest says {self.manifest.input_names}"
            )
        outputs = {o.name: o for o in session.get_outputs()}
        if self.manifest.output_name not in outputs:
            raise ArtifactError(
                f"{file}: no output {self.manifest.output_name!r} (has {sorted(outputs)})"
            )
        width = outputs[self.manifest.output_name].shape[-1]
        if isinstance(width, int) and width != len(self.manifest.labels):
            raise ArtifactError(f"{file}: {width} logits but {len(self.manifest.labels)} labels")

    def run(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray | None = None,
    ) -> np.ndarray:
        """`token_type_ids`: a sentence pair's segments (None: all 0, single texts)."""
        busy = self._busy
        if busy is None:
            return self._run_on(self._session, input_ids, attention_mask, token_type_ids)
        alone = self._lone is not None and not busy.others_busy()
        busy.set_busy(True)
        try:
            session = self._lone if alone else self._session
            return self._run_on(session, input_ids, attention_mask, token_type_ids)
        finally:
            busy.set_busy(False)

    def _run_on(
        self,
        session: Any,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray | None = None,
    ) -> np.ndarray:
        feeds: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self._type_ids:
            feeds["token_type_ids"] = (
                np.zeros_like(input_ids) if token_type_ids is None else token_type_ids
            )
        if self._io_binding:
            binding = session.io_binding()
            for name, array in feeds.items():
                binding.bind_cpu_input(name, array)
            binding.bind_output(self.manifest.output_name, "cpu")
            session.run_with_iobinding(binding)
            logits = binding.copy_outputs_to_cpu()[0]
        else:
            logits = session.run([self.manifest.output_name], feeds)[0]
        return self._finish(np.asarray(logits))

    def warm_up(self, lengths: Sequence[int], max_batch_size: int, max_batch_tokens: int) -> float:
        """Run every sequence-length bucket at batch 1 and at the largest batch it allows."""
        started, before_mb = time.perf_counter(), resident_mb()
        sessions = [self._session] if self._lone is None else [self._session, self._lone]
        for length in lengths:
            for size in sorted({1, max(1, min(max_batch_size, max_batch_tokens // length))}):
                ids = np.full((size, length), self.encoder.pad_id, dtype=np.int64)
                for session in sessions:
                    self._run_on(session, ids, np.ones_like(ids))
        self.memory_mb["warm_up"] = resident_mb() - before_mb
        return time.perf_counter() - started
