"""Statistics: z-test, PSI and bucket conversion (pure)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canaria_operator.analysis.stats import (
    bucket_counts,
    chi2_sf,
    chi_square_homogeneity,
    normal_sf,
    psi,
    two_proportion_z,
)


@pytest.mark.parametrize(
    ("fa", "na", "fb", "nb", "z"),
    [
        # hand-computed: pa=.1, pb=.05, pooled=.075, se=sqrt(.075*.925*(2/1000))=.011779
        (100, 1000, 50, 1000, 4.2447),
        (50, 1000, 100, 1000, -4.2447),
        (5, 100, 5, 100, 0.0),
    ],
)
def test_z_values(fa: int, na: int, fb: int, nb: int, z: float) -> None:
    t = two_proportion_z(fa, na, fb, nb)
    assert t.z == pytest.approx(z, abs=1e-3)
    assert t.p_value == pytest.approx(normal_sf(t.z), rel=1e-12)
    assert t.p_value == pytest.approx(normal_sf(z), rel=1e-3)


def test_z_no_failures_is_no_evidence() -> None:
    assert two_proportion_z(0, 100, 0, 100).p_value == 0.5
    assert two_proportion_z(100, 100, 100, 100).p_value == 0.5  # zero variance, equal
    assert two_proportion_z(100, 100, 0, 100).p_value < 1e-40


@pytest.mark.parametrize("args", [(1, 0, 0, 10), (11, 10, 0, 10), (-1, 10, 0, 10), (0, 10, 0, 0)])
def test_z_rejects_impossible_counts(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError, match=r"sample|failures"):
        two_proportion_z(*args)


@given(
    st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
)
def test_z_p_value_is_a_probability_and_antisymmetric(
    a: tuple[int, int], b: tuple[int, int]
) -> None:
    t = two_proportion_z(a[0], a[1], b[0], b[1])
    r = two_proportion_z(b[0], b[1], a[0], a[1])
    assert 0.0 <= t.p_value <= 1.0
    assert t.z == pytest.approx(-r.z, abs=1e-9)
    if t.rate_a > t.rate_b:
        assert t.p_value <= 0.5


def test_sf() -> None:
    assert normal_sf(0) == 0.5
    assert normal_sf(1.6449) == pytest.approx(0.05, abs=1e-4)


counts = st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 10_000), min_size=1)


@given(counts, counts)
def test_psi_nonnegative_zero_on_identity(e: dict[str, int], a: dict[str, int]) -> None:
    assert psi(e, a) >= -1e-12
    assert psi(e, e) == pytest.approx(0.0, abs=1e-12)
    scaled = {k: 7 * v for k, v in e.items()}
    assert psi(e, scaled) == pytest.approx(0.0, abs=1e-12)  # only proportions matter


def test_psi_known_value_and_shuffled_labels() -> None:
    e = {"0": 50, "1": 50}
    a = {"0": 25, "1": 75}
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi(e, a) == pytest.approx(expected)
    assert psi({"0": 90, "1": 10}, {"0": 10, "1": 90}) > 1.0  # swapped classes: huge drift
    with pytest.raises(ValueError, match="positive"):
        psi({"0": 0}, {"0": 1})


def test_bucket_counts_from_cumulative() -> None:
    cum = {"0.1": 2.0, "0.5": 5.0, "1": 5.0, "+Inf": 9.0}
    assert bucket_counts(cum) == {"0.1": 2.0, "0.5": 3.0, "1": 0.0, "+Inf": 4.0}
    assert sum(bucket_counts(cum).values()) == 9.0


@pytest.mark.parametrize(
    ("x", "df", "p"),
    [(3.841, 1, 0.05), (5.991, 2, 0.05), (9.210, 2, 0.01), (18.307, 10, 0.05), (0.0, 3, 1.0)],
)
def test_chi2_sf_matches_tables(x: float, df: int, p: float) -> None:
    assert chi2_sf(x, df) == pytest.approx(p, rel=0.08, abs=1e-3)


def test_chi_square_homogeneity() -> None:
    stat, p = chi_square_homogeneity({"a": 50, "b": 50}, {"a": 100, "b": 100})
    assert (stat, p) == (0.0, 1.0)
    stat, p = chi_square_homogeneity({"a": 30, "b": 10, "c": 10}, {"a": 60, "b": 75, "c": 65})
    assert stat == pytest.approx(15.686, rel=1e-3)
    assert p < 0.001
    assert chi_square_homogeneity({"a": 5}, {"a": 9}) == (0.0, 1.0)  # one category


@given(
    st.lists(st.integers(1, 500), min_size=2, max_size=6),
    st.integers(1, 20),
)
def test_chi_square_same_proportions_is_never_significant(counts: list[int], scale: int) -> None:
    a = {str(i): float(c) for i, c in enumerate(counts)}
    b = {k: v * scale for k, v in a.items()}
    stat, p = chi_square_homogeneity(a, b)
    assert stat == pytest.approx(0.0, abs=1e-9)
    assert p > 0.99
