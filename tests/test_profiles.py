import math

from hypothesis import given
from hypothesis import strategies as st

from workshop.profiles import ProfileTarget, match_profiles

PROFILES = [
    ProfileTarget("a", {"x": 0, "y": 0}),
    ProfileTarget("b", {"x": 100, "y": 100}),
    ProfileTarget("c", {"x": 0, "y": 0}),
]


def test_there_is_no_best_profile_without_values():
    matches, best = match_profiles({"x": None, "y": None}, PROFILES)
    assert best is None
    assert all(m.distance is None and m.match is None for m in matches)


def test_it_measures_euclidean_distance_over_sliders_with_values():
    matches, best = match_profiles({"x": 30, "y": 40}, PROFILES)
    assert best == "a"
    assert matches[0].distance == 50
    assert matches[0].match == 100 * (1 - 50 / (100 * math.sqrt(2)))


def test_sliders_without_values_are_left_out():
    matches, best = match_profiles({"x": 100, "y": None}, PROFILES)
    assert best == "b"
    assert matches[1].distance == 0
    assert matches[1].match == 100
    assert matches[0].match == 0


def test_a_tie_goes_to_the_earlier_profile():
    _, best = match_profiles({"x": 0, "y": 0}, PROFILES)
    assert best == "a"


@given(st.integers(0, 100), st.integers(0, 100))
def test_match_is_between_0_and_100_and_best_is_nearest(x, y):
    matches, best = match_profiles({"x": x, "y": y}, PROFILES)
    assert all(0 <= m.match <= 100 for m in matches)
    assert min(m.distance for m in matches) == next(m.distance for m in matches if m.key == best)
