"""Differences of medians between scenarios drawn with the same seed (common random numbers):
the error that `compare_medians` reports is the spread such differences really have."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from builders import make_scenario
from mcsim.compare import compare_medians, replicate_seeds
from mcsim.engine import simulate
from mcsim.errors import McsimError

N = 20_000


def _pair():
    """Two views sharing input ``a``; each has an input of its own (``b`` or ``c``)."""
    inputs = {"a": {"dist": "normal", "loc": 10.0, "scale": 2.0},
              "b": {"dist": "normal", "loc": 0.0, "scale": 1.0},
              "c": {"dist": "lognormal", "mu": 0.0, "sigma": 0.5}}
    first = make_scenario(inputs, {"y": {"formula": "a + b", "unit": "USD"}, "z": "a"})
    second = make_scenario(inputs, {"y": {"formula": "a + c", "unit": "USD"}, "z": "a"})
    return dataclasses.replace(first, name="first"), dataclasses.replace(second, name="second")


def test_the_reported_error_is_the_spread_of_differences_over_seeds():
    first, second = _pair()
    diffs, reported, naive = [], [], []
    for seed in range(30):
        sims = [simulate(first, N, seed=seed), simulate(second, N, seed=seed)]
        diffs.append(sims[1].quantile("y", 0.5)[0] - sims[0].quantile("y", 0.5)[0])
        if seed < 4:
            row = compare_medians(sims).table.set_index("output").loc["y"]
            reported.append(row["difference_se"])
            naive.append(row["independent_se"])
            assert row["difference"] == pytest.approx(diffs[-1])
            assert 0.5 < row["correlation"] < 0.95  # a is shared, b and c are not
    empirical = np.std(diffs, ddof=1)
    assert 0.65 < np.mean(reported) / empirical < 1.6, (np.mean(reported), empirical)
    assert np.mean(naive) > 1.5 * max(empirical, np.mean(reported))  # ignoring the pairing
    # overstates the error


def test_a_shared_output_differs_by_exactly_nothing():
    first, second = _pair()
    comp = compare_medians([simulate(first, N, seed=3), simulate(second, N, seed=3)],
                           replicates=5)
    row = comp.table.set_index("output").loc["z"]  # z = a in both: the same draws
    assert row["difference"] == 0 and row["difference_se"] == 0
    assert row["independent_se"] > 0
    assert comp.reference == "first" and comp.scenarios == ("first", "second")
    assert set(comp.table["replicates"]) == {5} and set(comp.table["seed"]) == {3}
    assert list(comp.to_frame()["output"]) == ["y", "z"]


def test_replicate_seeds_are_distinct_reproducible_and_not_the_seed():
    seeds = replicate_seeds(7, 50)
    assert len(set(seeds)) == 50 and 7 not in seeds
    assert seeds == replicate_seeds(7, 50) and seeds != replicate_seeds(8, 50)
    assert all(0 <= s < 2**31 for s in seeds)


def test_only_runs_with_one_seed_and_size_compare():
    first, second = _pair()
    a = simulate(first, 5_000, seed=1)
    with pytest.raises(McsimError, match="at least two"):
        compare_medians([a])
    with pytest.raises(McsimError, match="same seed"):
        compare_medians([a, simulate(second, 5_000, seed=2)])
    with pytest.raises(McsimError, match="same seed"):
        compare_medians([a, simulate(second, 6_000, seed=1)])
