"""Statistics of slider positions, computed from a count per value.

Pure Python, no Django: every position is an integer 0..100, so a slider's
state is an array of 101 counts. Every statistic below is exact by the
definitions in docs/protocol.md and costs O(101), however many participants.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MIN_VALUE = 0
MAX_VALUE = 100
BINS = MAX_VALUE - MIN_VALUE + 1
HISTOGRAM_BINS = 10
# A slider is flagged as split when the middle half of the group spans this many points or more.
SPLIT_IQR = 40
SPLIT_MIN_N = 3


@dataclass(frozen=True, slots=True)
class Summary:
    n: int
    mean: float | None
    median: float | None
    q1: float | None
    q3: float | None
    stdev: float | None
    histogram: tuple[int, ...]
    consensus: float | None

    @property
    def split(self) -> bool:
        """Opinion is split when n >= 3 and the interquartile range is 40 points or more."""
        if self.n < SPLIT_MIN_N or self.q1 is None or self.q3 is None:
            return False
        return self.q3 - self.q1 >= SPLIT_IQR

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "mean": self.mean,
            "median": self.median,
            "q1": self.q1,
            "q3": self.q3,
            "stdev": self.stdev,
            "histogram": list(self.histogram),
            "consensus": self.consensus,
        }


EMPTY = Summary(0, None, None, None, None, None, (0,) * HISTOGRAM_BINS, None)


def counts_of(values: Iterable[int]) -> list[int]:
    counts = [0] * BINS
    for value in values:
        counts[value - MIN_VALUE] += 1
    return counts


def summarize(values: Iterable[int]) -> Summary:
    return summarize_counts(counts_of(values))


def summarize_counts(counts: Sequence[int]) -> Summary:
    if len(counts) != BINS:
        raise ValueError(f"expected {BINS} counts, got {len(counts)}")
    n = 0
    s1 = 0
    s2 = 0
    for offset, count in enumerate(counts):
        if count < 0:
            raise ValueError("counts cannot be negative")
        value = offset + MIN_VALUE
        n += count
        s1 += count * value
        s2 += count * value * value
    if n == 0:
        return EMPTY

    order = _OrderStatistics(counts)
    if n % 2:
        median: float = order[n // 2]
    else:
        median = (order[n // 2 - 1] + order[n // 2]) / 2
    if n == 1:
        q1 = q3 = float(order[0])
    else:
        q1, q3 = (_inclusive_quartile(order, n, i) for i in (1, 3))

    mean = s1 / n
    # pstdev exactly as the statistics module: the correctly rounded square
    # root of the exact variance (n*s2 - s1**2) / n**2.
    stdev = _float_sqrt_of_frac(n * s2 - s1 * s1, n * n)

    log_sum = 0.0
    for offset, count in enumerate(counts):
        if count:
            distance = abs(offset + MIN_VALUE - mean) / (MAX_VALUE - MIN_VALUE)
            log_sum += count * math.log2(1 - distance)
    consensus = min(1.0, max(0.0, 1 + log_sum / n))

    return Summary(
        n=n,
        mean=mean,
        median=median,
        q1=q1,
        q3=q3,
        stdev=stdev,
        histogram=_histogram(counts),
        consensus=consensus,
    )


def _histogram(counts: Sequence[int]) -> tuple[int, ...]:
    # [0,10), [10,20), ... [90,100]: the last bin includes 100.
    bins = [sum(counts[start : start + 10]) for start in range(0, 100, 10)]
    bins[-1] += counts[100]
    return tuple(bins)


def _inclusive_quartile(order: _OrderStatistics, n: int, i: int) -> float:
    # statistics.quantiles(data, n=4, method="inclusive"), without sorting.
    j, delta = divmod(i * (n - 1), 4)
    return (order[j] * (4 - delta) + order[j + 1] * delta) / 4


class _OrderStatistics:
    """The k-th smallest value (0-based) of the multiset a count array describes."""

    def __init__(self, counts: Sequence[int]) -> None:
        self._cumulative: list[int] = []
        total = 0
        for count in counts:
            total += count
            self._cumulative.append(total)

    def __getitem__(self, k: int) -> int:
        # Binary search for the first value whose cumulative count exceeds k.
        lo, hi = 0, len(self._cumulative) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self._cumulative[mid] > k:
                hi = mid
            else:
                lo = mid + 1
        return lo + MIN_VALUE


def _integer_sqrt_of_frac_rto(n: int, m: int) -> int:
    a = math.isqrt(n // m)
    return a | (a * a * m != n)


_SQRT_BIT_WIDTH = 2 * sys.float_info.mant_dig + 3


def _float_sqrt_of_frac(n: int, m: int) -> float:
    """Square root of n/m, correctly rounded (the statistics module's own method)."""
    q = (n.bit_length() - m.bit_length() - _SQRT_BIT_WIDTH) // 2
    if q >= 0:
        numerator = _integer_sqrt_of_frac_rto(n, m << 2 * q) << q
        denominator = 1
    else:
        numerator = _integer_sqrt_of_frac_rto(n << -2 * q, m)
        denominator = 1 << -q
    return numerator / denominator
