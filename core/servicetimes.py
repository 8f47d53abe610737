"""How long a service takes, learnt from the site's own finished services. Pure and part of the
queue's fold: replaying the same events gives the same figures.

Per service, the recent samples (`WINDOW`) give a trimmed mean and spread (the longest and
shortest `TRIM` of them left out: one customer with a two-hour case, or a clerk who forgot to press
"finish", must not move everyone's estimate). Until a service has samples the configured
`default_service_min` stands, and it fades out as samples come (`PRIOR` samples' weight). A counter
whose own times for a service differ (a trainee, a specialist) gets its own figure, pulled towards
the service's until it has enough samples of its own (`COUNTER_PRIOR`).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

#: Samples kept per service and per (counter, service): about a day's worth for a busy service.
WINDOW = 60
#: The share left out at each end before averaging.
TRIM = 0.1
#: The configured default counts as this many samples.
PRIOR = 3
#: The service's figure counts as this many samples of a counter's own.
COUNTER_PRIOR = 8
#: Spread assumed while there are few samples: service times vary about this much around their
#: mean (the coefficient of variation seen at service points is 0.5–1).
DEFAULT_CV = 0.7
#: Service times outside these bounds (seconds) are not learnt from: a clerk who forgot to press
#: "finish" over lunch, or a clock that jumped.
MIN_SAMPLE_S, MAX_SAMPLE_S = 15, 3 * 3600
#: A service past its mean still has about this share of a mean to go (service times have long tails).
RESIDUAL_MIN = 0.25


@dataclass(frozen=True)
class Estimate:
    mean_s: float
    var_s2: float  # variance of one service, seconds²


def _trimmed(samples: deque[float]) -> tuple[float, float, int]:
    """(mean, variance, n) of the samples with TRIM cut off at each end."""
    v = sorted(samples)
    cut = int(len(v) * TRIM)
    kept = v[cut:len(v) - cut] if len(v) - 2 * cut >= 3 else v
    n = len(kept)
    mean = sum(kept) / n
    var = sum((x - mean) ** 2 for x in kept) / (n - 1) if n > 1 else 0.0
    return mean, var, n


class ServiceTimes:
    def __init__(self, defaults_s: dict[str, float]) -> None:
        self.defaults = dict(defaults_s)
        self._by_service: dict[str, deque[float]] = {}
        self._by_counter: dict[tuple[str, str], deque[float]] = {}
        self._cache: dict[tuple[str, str | None], Estimate] = {}

    def learn(self, service: str, seconds: object, counter: str | None = None) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not MIN_SAMPLE_S <= seconds <= MAX_SAMPLE_S:
            return
        self._by_service.setdefault(service, deque(maxlen=WINDOW)).append(float(seconds))
        if counter is not None:
            self._by_counter.setdefault((counter, service), deque(maxlen=WINDOW)).append(float(seconds))
        self._cache.clear()

    def samples(self, service: str) -> int:
        return len(self._by_service.get(service, ()))

    def learnt(self) -> dict[str, tuple[float, ...]]:
        """Every sample kept, per service and per "counter/service" (what a replay must reproduce)."""
        out = {s: tuple(d) for s, d in self._by_service.items()}
        out.update({f"{c}/{s}": tuple(d) for (c, s), d in self._by_counter.items()})
        return out

    def service(self, service: str) -> Estimate:
        key = (service, None)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = self._service(service)
        return got

    def _service(self, service: str) -> Estimate:
        default = self.defaults.get(service, 600.0)
        prior_var = (DEFAULT_CV * default) ** 2
        samples = self._by_service.get(service)
        if not samples:
            return Estimate(default, prior_var)
        mean, var, n = _trimmed(samples)
        w = n / (n + PRIOR)
        m = w * mean + (1 - w) * default
        # The spread is learnt more slowly than the mean: a few alike samples say little about it.
        vw = n / (n + 2 * PRIOR)
        return Estimate(m, vw * var + (1 - vw) * (DEFAULT_CV * m) ** 2)

    def at(self, counter: str, service: str) -> Estimate:
        """The figure for `service` at `counter`: the service's, moved towards the counter's own."""
        key = (service, counter)
        got = self._cache.get(key)
        if got is not None:
            return got
        base = self.service(service)
        own = self._by_counter.get((counter, service))
        if own:
            mean, var, n = _trimmed(own)
            w = n / (n + COUNTER_PRIOR)
            base = Estimate(w * mean + (1 - w) * base.mean_s, w * var + (1 - w) * base.var_s2)
        self._cache[key] = base
        return base

    def remaining(self, counter: str, service: str, elapsed_s: float) -> Estimate:
        """What is left of a service that has run `elapsed_s`: a service already long has more left
        than the mean minus the time spent (service times have long tails)."""
        e = self.at(counter, service)
        if e.mean_s <= 0:
            return e
        left = max(e.mean_s - elapsed_s, e.mean_s * RESIDUAL_MIN)
        return Estimate(left, e.var_s2 * left / e.mean_s)


def sd(e: Estimate) -> float:
    return math.sqrt(max(0.0, e.var_s2))
