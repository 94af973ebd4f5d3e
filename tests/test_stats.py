import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workshop.stats import EMPTY, counts_of, summarize, summarize_counts

positions = st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=300)


def test_it_gives_null_statistics_without_positions():
    summary = summarize([])
    assert summary == EMPTY
    assert summary.n == 0
    assert (summary.mean, summary.median, summary.q1, summary.q3, summary.stdev, summary.consensus) == (None,) * 6
    assert summary.histogram == (0,) * 10


def test_a_single_position_is_its_own_median_and_quartiles():
    summary = summarize([37])
    assert (summary.n, summary.median, summary.q1, summary.q3, summary.stdev) == (1, 37, 37, 37, 0)
    assert summary.consensus == 1


def test_it_matches_the_worked_example():
    summary = summarize([10, 20, 30, 40])
    assert summary.median == 25
    assert summary.q1 == 17.5
    assert summary.q3 == 32.5
    assert summary.mean == 25
    assert summary.stdev == statistics.pstdev([10, 20, 30, 40])


def test_a_group_split_between_the_poles_has_no_consensus():
    assert summarize([0, 100]).consensus == 0
    assert summarize([0, 0, 100, 100]).consensus == 0


def test_the_histogram_puts_100_in_the_last_bin_and_10_in_the_second():
    assert summarize([0, 9, 10, 99, 100]).histogram == (2, 1, 0, 0, 0, 0, 0, 0, 0, 2)


def test_it_flags_a_split_slider_by_the_interquartile_range():
    assert summarize([10, 10, 60, 60]).split  # q1=10, q3=60
    assert not summarize([40, 45, 50, 55]).split
    assert not summarize([0, 100]).split  # too few to call


def test_it_rejects_a_count_array_of_the_wrong_length():
    with pytest.raises(ValueError, match="101"):
        summarize_counts([0] * 100)


@given(positions)
def test_it_agrees_with_the_statistics_module(values):
    summary = summarize(values)
    assert summary.n == len(values)
    assert summary.median == statistics.median(values)
    assert summary.mean == pytest.approx(statistics.mean(values), abs=1e-12)
    assert summary.stdev == statistics.pstdev(values)
    if len(values) > 1:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        assert (summary.q1, summary.q3) == (q1, q3)
    mean = statistics.mean(values)
    expected = 1 + statistics.fmean(math.log2(1 - abs(x - mean) / 100) for x in values)
    assert summary.consensus == pytest.approx(expected, abs=1e-9)
    assert sum(summary.histogram) == len(values)


@given(positions, st.randoms())
def test_order_does_not_matter(values, rng):
    shuffled = list(values)
    rng.shuffle(shuffled)
    assert summarize(shuffled) == summarize(values)


@given(positions)
def test_statistics_stay_within_their_bounds(values):
    summary = summarize(values)
    assert min(values) <= summary.q1 <= summary.median <= summary.q3 <= max(values)
    assert 0 <= summary.stdev <= 50
    assert 0 <= summary.consensus <= 1


@given(st.integers(min_value=0, max_value=100), st.integers(min_value=1, max_value=200))
def test_agreement_gives_consensus_one(value, n):
    summary = summarize([value] * n)
    assert summary.consensus == 1
    assert summary.stdev == 0


@given(positions)
def test_counts_and_values_give_the_same_summary(values):
    assert summarize_counts(counts_of(values)) == summarize(values)


def test_the_token_bucket_allows_a_burst_then_the_rate():
    from workshop.protocol import TokenBucket

    bucket = TokenBucket(rate=20, burst=40)
    assert sum(bucket.take(0.0) for _ in range(100)) == 40
    assert sum(bucket.take(1.0) for _ in range(100)) == 20
    assert bucket.take(1.06) is True  # 1.2 tokens refilled after 60 ms
