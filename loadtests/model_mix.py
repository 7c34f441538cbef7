"""Which model each request of a multi-model load test names: Zipf over N models.

Real multi-model traffic is skewed: a few models (big customers, common languages) take most
requests and a long tail is invoked now and then, which is what makes loading and unloading
matter. Model k (1-based rank) is drawn with probability proportional to 1 / k**s; s = 0 is
uniform, s = 1 the classic Zipf, larger s more skewed. Names are `PREFIX-00`, `PREFIX-01`...,
rank order; the TargetModel of a name is `NAME.tar.gz`, as `deploy models add` stores it.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass

TARGET_SUFFIX = ".tar.gz"
DEFAULT_PREFIX = "model"


def zipf_weights(count: int, exponent: float) -> list[float]:
    """Normalised probabilities of ranks 1..count."""
    if count < 1:
        raise ValueError(f"--models {count}: need at least one model")
    if exponent < 0:
        raise ValueError(f"--model-zipf {exponent}: must be 0 (uniform) or more")
    raw = [1.0 / rank**exponent for rank in range(1, count + 1)]
    total = sum(raw)
    return [weight / total for weight in raw]


def model_names(count: int, prefix: str = DEFAULT_PREFIX) -> list[str]:
    width = max(2, len(str(count - 1)))
    return [f"{prefix}-{index:0{width}d}" for index in range(count)]


def target_model(name: str) -> str:
    """The TargetModel (key under the models prefix) that invokes `name`."""
    return name + TARGET_SUFFIX


@dataclass(frozen=True)
class ModelMix:
    names: tuple[str, ...]
    weights: tuple[float, ...]

    @classmethod
    def zipf(cls, count: int, exponent: float, prefix: str = DEFAULT_PREFIX) -> ModelMix:
        return cls(tuple(model_names(count, prefix)), tuple(zipf_weights(count, exponent)))

    def sampler(self, rng: random.Random) -> ModelSampler:
        return ModelSampler(self, rng)


class ModelSampler:
    """Draws names by the mix's weights (inverse CDF: one uniform draw, a bisection)."""

    def __init__(self, mix: ModelMix, rng: random.Random) -> None:
        self.mix = mix
        self._cumulative = list(itertools.accumulate(mix.weights))
        self._rng = rng

    def next(self) -> str:
        point = self._rng.random() * self._cumulative[-1]
        index = min(bisect.bisect_right(self._cumulative, point), len(self.mix.names) - 1)
        return self.mix.names[index]
