"""How long a service takes, learnt from the site's own finished services. Pure and part of the
queue's fold: replaying the same events gives the same figures.

Per service, the recent samples (`WINDOW`) give a mean and spread fitted robustly in log space
(`_robust`: one customer with a two-hour case, or a clerk who forgot to press "finish", must not
move everyone's estimate). Until a service has samples the configured
`default_service_min` stands, and it fades out as samples come (`PRIOR` samples' weight). A counter
whose own times for a service differ (a trainee, a specialist) gets its own figure, pulled towards
the service's until it has enough samples of its own (`COUNTER_PRIOR`).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

#: Samples kept per service and per (counter, service): two or three days of a busy service, a
#: week or more of a rare one. Service times vary (CV 0.5–1): 60 samples left the mean of a
#: 20-minute service 10 % off on a bad day, and the simulated busy day's MAE was 0.3 min worse
#: (bench/RESULTS.md); a change in the work (a new kind of case) still shows within days.
WINDOW = 150
#: The configured default counts as this many samples.
PRIOR = 3
#: The service's figure counts as this many samples of a counter's own.
COUNTER_PRIOR = 8
#: Spread assumed while there are few samples: service times vary about this much around their
#: mean (the coefficient of variation seen at service points is 0.5–1).
DEFAULT_CV = 0.7
#: The same in log space (log-normal with that coefficient of variation), and the most the learnt
#: spread may be (a few wildly different samples must not make every estimate a range of hours).
DEFAULT_SIGMA = math.sqrt(math.log(1 + DEFAULT_CV ** 2))
MAX_SIGMA = 1.2
#: Service times outside these bounds (seconds) are not learnt from: a clerk who forgot to press
#: "finish" over lunch, or a clock that jumped.
MIN_SAMPLE_S, MAX_SAMPLE_S = 15, 3 * 3600
#: What is left of a service in progress is never taken as less than this share of a mean.
RESIDUAL_MIN = 0.25


@dataclass(frozen=True)
class Estimate:
    mean_s: float
    var_s2: float  # variance of one service, seconds²


def _robust(samples: deque[float]) -> tuple[float, float, int]:
    """(mean, variance, n) of service times that are roughly log-normal, from the median and the
    median absolute deviation of their logarithms: one two-hour case, or a "finish" forgotten
    over lunch, moves them little, and (unlike a trimmed mean, which cuts the long tail and so
    comes out short) the long tail of ordinary services still counts."""
    logs = sorted(math.log(x) for x in samples)
    n = len(logs)
    mu = _median(logs)
    sigma = 1.4826 * _median(sorted(abs(v - mu) for v in logs)) if n >= 3 else DEFAULT_SIGMA
    sigma = min(sigma, MAX_SIGMA)
    mean = math.exp(mu + sigma ** 2 / 2)
    return mean, (math.exp(sigma ** 2) - 1) * mean ** 2, n


def _phi(x: float) -> float:
    """The standard normal distribution function."""
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _median(v: list[float]) -> float:
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


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
        mean, var, n = _robust(samples)
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
            mean, var, n = _robust(own)
            w = n / (n + COUNTER_PRIOR)
            base = Estimate(w * mean + (1 - w) * base.mean_s, w * var + (1 - w) * base.var_s2)
        self._cache[key] = base
        return base

    def remaining(self, counter: str, service: str, elapsed_s: float) -> Estimate:
        """What is left of a service that has run `elapsed_s`: E[S - e | S > e] for a log-normal
        time of the learnt mean and spread. A service already long has more left than the mean
        minus the time spent (long tails), and a newcomer's wait for the customer in the chair is
        longer than half a service on average (the one you find there is likely a long one)."""
        e = self.at(counter, service)
        if e.mean_s <= 0:
            return e
        if elapsed_s <= 0:
            return e
        sigma2 = math.log(1 + e.var_s2 / e.mean_s ** 2)
        sigma = math.sqrt(sigma2)
        mu = math.log(e.mean_s) - sigma2 / 2
        if sigma < 1e-6:
            return Estimate(max(0.0, e.mean_s - elapsed_s), 0.0)
        z = (math.log(elapsed_s) - mu) / sigma
        tail = _phi(-z)
        if tail < 1e-9:  # far past anything seen: about a third of a mean more
            return Estimate(e.mean_s * RESIDUAL_MIN, e.var_s2 * RESIDUAL_MIN)
        left = e.mean_s * _phi(sigma - z) / tail - elapsed_s
        left = max(left, e.mean_s * RESIDUAL_MIN)
        return Estimate(left, e.var_s2 * min(1.0, left / e.mean_s))

#: Calls remembered to learn how often a called customer does not come (about two busy days).
NO_SHOW_WINDOW = 200
#: The rate is pulled towards none by this many calls' weight: three no-shows in the first ten
#: calls of a new hub are not a rate of 30 %.
NO_SHOW_PRIOR = 20
#: What a no-show costs the clerk until learnt: the wait before pressing "no-show".
DEFAULT_NO_SHOW_S = 60.0


class NoShows:
    """How often a called customer does not come, and how long the clerk waits for them: a called
    customer costs the counter (1 − rate) services and rate no-show waits. Part of the fold, like
    the service times."""

    def __init__(self) -> None:
        self._outcomes: deque[int] = deque(maxlen=NO_SHOW_WINDOW)  # 1: did not come
        self._waits: deque[float] = deque(maxlen=WINDOW)

    def served(self) -> None:
        self._outcomes.append(0)

    def missed(self, waited_s: object) -> None:
        self._outcomes.append(1)
        if isinstance(waited_s, (int, float)) and not isinstance(waited_s, bool) and 0 < waited_s <= MAX_SAMPLE_S:
            self._waits.append(float(waited_s))

    def rate(self) -> float:
        return sum(self._outcomes) / (len(self._outcomes) + NO_SHOW_PRIOR)

    def cost_s(self) -> float:
        return _median(sorted(self._waits)) if self._waits else DEFAULT_NO_SHOW_S


def sd(e: Estimate) -> float:
    return math.sqrt(max(0.0, e.var_s2))
