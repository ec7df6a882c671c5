"""Evidence: likelihood weights on the draws, checked against exact posteriors."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mcsim import engine
from mcsim.cli import main
from mcsim.errors import McsimError
from mcsim.evidence import kish_ess, quantise, weight_tree
from mcsim.formula import evaluate
from mcsim.scenario import load_scenario, scenario_from_dict

PRIOR_NORMAL = {"dist": "normal", "loc": 0.0, "scale": 1.0, "unit": "u", "source": "test"}


def _scenario(inputs: dict, evidence: list, outputs: dict | None = None, derived=None):
    data = {"schema": 1, "inputs": inputs, "outputs": outputs or {"y": {"formula": "x"}},
            "evidence": evidence}
    if derived:
        data["derived"] = derived
    return scenario_from_dict(data, name="ev")


def _measure(quantity="x", observed=1.0, likelihood="normal", name="m", **error):
    return {"name": name, "quantity": quantity, "observed": observed,
            "likelihood": likelihood, "source": "test", **error}


def _within(value, exact, se, k=4.0):
    assert abs(value - exact) <= k * se, (value, exact, se)


def test_normal_prior_normal_measurement_gives_the_conjugate_posterior():
    # prior N(0, 1), observed 1 with sd 0.5: posterior N(0.8, sqrt(0.2))
    sc = _scenario({"x": PRIOR_NORMAL}, [_measure(observed=1.0, sd=0.5)])
    sim = engine.simulate(sc, 400_000, seed=3)
    post = stats.norm(0.8, math.sqrt(0.2))
    s = sim.summary().iloc[0]
    _within(s["mean"], post.mean(), s["mean_se"])
    _within(s["std"], post.std(), post.std() / math.sqrt(2 * s["ess"]) * 1.5)
    _within(s["median"], post.median(), s["median_se"])
    _within(s["ci_low"], post.ppf(0.05), s["ci_low_se"])
    _within(s["ci_high"], post.ppf(0.95), s["ci_high_se"])
    # the prior is reported beside it, from the same draws
    assert abs(s["prior_median"]) < 0.02 and abs(s["prior_ci_high"] - 1.645) < 0.03
    # Kish's ESS of exp(-z^2/2) weights on N(0, 1) draws: E[w]^2 / E[w^2]
    m1 = _gauss_moment(1, 1.0, 0.5)
    m2 = _gauss_moment(2, 1.0, 0.5)
    assert sim.weights.share == pytest.approx(m1 * m1 / m2, rel=0.01)


def _gauss_moment(k: int, observed: float, sd: float) -> float:
    """E[exp(-k (x - observed)^2 / (2 sd^2))] for x ~ N(0, 1)."""
    v = sd * sd / k
    return math.sqrt(v / (1 + v)) * math.exp(-observed**2 / (2 * (1 + v)))


def test_lognormal_prior_lognormal_measurement_gives_the_conjugate_posterior():
    # log x ~ N(1, 0.5); log(observed) = log x + N(0, 0.25): log x | obs is normal
    prior = {"dist": "lognormal", "mu": 1.0, "sigma": 0.5, "unit": "u", "source": "t"}
    observed = math.exp(1.6)
    sc = _scenario({"x": prior}, [_measure(observed=observed, likelihood="lognormal",
                                           sigma=0.25)])
    sim = engine.simulate(sc, 400_000, seed=5)
    prec = 1 / 0.5**2 + 1 / 0.25**2
    mu = (1.0 / 0.5**2 + 1.6 / 0.25**2) / prec
    post = stats.lognorm(s=math.sqrt(1 / prec), scale=math.exp(mu))
    s = sim.summary().iloc[0]
    _within(s["mean"], post.mean(), s["mean_se"])
    _within(s["median"], post.median(), s["median_se"])
    _within(s["ci_low"], post.ppf(0.05), s["ci_low_se"])
    _within(s["ci_high"], post.ppf(0.95), s["ci_high_se"])


def test_lognormal_p5_p95_is_a_biased_measurement():
    # p5/p95 of observed/true centred on 2: the measurement reads twice the truth
    prior = {"dist": "lognormal", "mu": 0.0, "sigma": 0.5, "unit": "u", "source": "t"}
    z = stats.norm.ppf(0.95)
    sc = _scenario({"x": prior}, [_measure(observed=2.0, likelihood="lognormal",
                                           p5=2 * math.exp(-0.3 * z),
                                           p95=2 * math.exp(0.3 * z))])
    ev = sc.evidence[0]
    assert ev.params["sigma"] == pytest.approx(0.3)
    assert ev.params["bias"] == pytest.approx(math.log(2))
    sim = engine.simulate(sc, 200_000, seed=1)
    # log(obs) - bias = 0 = log x + noise: the posterior of log x is centred on 0 (shrunk)
    s = sim.summary().iloc[0]
    _within(s["median"], 1.0, s["median_se"])


def test_a_hard_constraint_equals_rejection_sampling_of_the_same_draws():
    inputs = {"x": PRIOR_NORMAL,
              "z": {"dist": "uniform", "min": 0, "max": 2, "unit": "u", "source": "t"}}
    sc = _scenario(inputs, [{"name": "c", "condition": "x + z > 1", "source": "t"}],
                   outputs={"y": {"formula": "x * z"}})
    n = 3 * 65_536 + 1234
    sim = engine.simulate(sc, n, seed=11, threads=2)
    draws = engine.sample(sc.without_evidence(), n, seed=11, names=("x", "z", "y"))
    kept = draws["y"][(draws["x"] + draws["z"]) > 1].to_numpy()
    post = sim.outputs["y"]
    assert post.count == kept.size
    assert sim.weights.positive == kept.size
    assert post.ess == pytest.approx(kept.size, rel=1e-12)
    assert post.mean == pytest.approx(kept.mean(), rel=1e-12)
    assert post.std == pytest.approx(kept.std(ddof=1), rel=1e-9)
    assert (post.minimum, post.maximum) == (kept.min(), kept.max())
    # every kept draw weighs 1: the weighted histogram is the kept draws' counts
    assert post.histogram.total == pytest.approx(kept.size, rel=1e-15)
    q = np.array([0.05, 0.5, 0.95])
    exact = np.quantile(kept, q, method="interpolated_inverted_cdf")
    se = sim.summary().iloc[0][["ci_low_se", "median_se", "ci_high_se"]].to_numpy(float)
    assert np.all(np.abs(sim.quantile("y", q) - exact) <= 0.25 * se + 1e-12)


def test_the_kernels_weights_match_the_numpy_reference():
    inputs = {"x": PRIOR_NORMAL,
              "w": {"dist": "lognormal", "mu": 0, "sigma": 0.3, "unit": "u", "source": "t"}}
    evidence = [_measure("x * w", 0.7, "student_t", name="t", df=3, scale=0.4),
                _measure("w", 1.2, "lognormal", name="l", sigma=0.2),
                {"name": "c", "condition": "x > -1", "source": "t"}]
    sc = _scenario(inputs, evidence, outputs={"y": {"formula": "x + w"}})
    n = 70_000
    sim = engine.simulate(sc, n, seed=2)
    cols = engine.sample(sc.without_evidence(), n, seed=2, names=("x", "w", "y"))
    env = {c: cols[c].to_numpy() for c in ("x", "w")}
    w = np.ones(n)
    for ev in sorted(sc.evidence, key=lambda e: e.name):
        w = w * evaluate(weight_tree(ev), env)
    w = quantise(w)
    assert sim.weights.sum_w == pytest.approx(w.sum(), rel=1e-12)
    assert sim.weights.ess == pytest.approx(kish_ess(w.sum(), (w * w).sum()), rel=1e-12)
    y = cols["y"].to_numpy()
    assert sim.outputs["y"].mean == pytest.approx((w * y).sum() / w.sum(), rel=1e-10)


def test_kish_ess_on_known_weights():
    assert kish_ess(4.0, 4.0) == 4.0  # four equal weights
    w = np.array([1.0, 0.5, 0.25, 0.0])
    assert kish_ess(w.sum(), (w * w).sum()) == pytest.approx(1.75**2 / 1.3125)
    assert kish_ess(0.0, 0.0) == 0.0


def test_weighted_results_do_not_depend_on_threads_or_batching():
    sc = _scenario({"x": PRIOR_NORMAL}, [_measure(observed=0.5, sd=0.7)])
    a = engine.simulate(sc, 300_000, seed=9, threads=2)
    b = engine.simulate(sc, 300_000, seed=9, threads=1, batch_tiles=1)
    assert a.weights == b.weights
    assert a.outputs["y"].mean == b.outputs["y"].mean
    assert np.array_equal(a.outputs["y"].histogram.counts, b.outputs["y"].histogram.counts)


def test_no_evidence_gives_the_same_draws_as_a_file_without_it():
    ev = [_measure(observed=0.5, sd=0.7)]
    with_ev = _scenario({"x": PRIOR_NORMAL}, ev)
    plain = scenario_from_dict({"schema": 1, "inputs": {"x": PRIOR_NORMAL},
                                "outputs": {"y": {"formula": "x"}}}, name="ev")
    a = engine.simulate(with_ev.without_evidence(), 100_000, seed=4)
    b = engine.simulate(plain, 100_000, seed=4)
    assert a.weights is None and a.prior is None
    assert (a.outputs["y"].mean, a.outputs["y"].std) == (b.outputs["y"].mean,
                                                          b.outputs["y"].std)
    assert np.array_equal(a.outputs["y"].histogram.counts, b.outputs["y"].histogram.counts)
    # and under evidence the prior columns are the unweighted run, bit for bit
    c = engine.simulate(with_ev, 100_000, seed=4)
    assert c.prior["y"].mean == b.outputs["y"].mean
    assert np.array_equal(c.prior["y"].histogram.counts, b.outputs["y"].histogram.counts)


@settings(max_examples=12, deadline=None)
@given(st.permutations([0, 1, 2]), st.floats(0.2, 3.0), st.floats(-1.0, 1.0))
def test_weights_do_not_depend_on_the_order_of_the_evidence(order, sd, observed):
    inputs = {"x": PRIOR_NORMAL,
              "v": {"dist": "uniform", "min": 0.5, "max": 2, "unit": "u", "source": "t"}}
    pieces = [_measure("x", observed, name="a", sd=sd),
              _measure("v", 1.0, "lognormal", name="b", sigma=0.4),
              {"name": "c", "condition": "x < 2.5", "source": "t"}]
    base = engine.simulate(_scenario(inputs, pieces), 20_000, seed=1)
    moved = engine.simulate(_scenario(inputs, [pieces[k] for k in order]), 20_000, seed=1)
    assert base.weights == moved.weights
    assert base.outputs["y"].mean == moved.outputs["y"].mean


@settings(max_examples=12, deadline=None)
@given(st.floats(-2.5, 2.5), st.floats(0.2, 5), st.floats(-8, 8))
def test_posterior_percentiles_stay_between_0_and_100(observed, sd, claim):
    # (an observed value the pilot's draws cannot reach is refused: see the tests below)
    data = {"schema": 1, "inputs": {"x": PRIOR_NORMAL}, "outputs": {"y": {"formula": "x"}},
            "claims": {"c": {"output": "y", "value": claim, "source": "t"}},
            "evidence": [_measure(observed=observed, sd=sd)]}
    sim = engine.simulate(scenario_from_dict(data, name="ev"), 20_000, seed=1)
    table = sim.claims()
    for column in ("percentile", "prior_percentile"):
        assert 0.0 <= float(table[column].iloc[0]) <= 100.0
    assert 0.0 <= float(table["p_exceed_low"].iloc[0]) <= float(table["p_exceed_high"].iloc[0])


# --- bad evidence: one line, the file and the field, exit 2 -----------------------------

BAD = [
    ({"quantity": "x + nope"}, "evidence.m.quantity: unknown name 'nope'"),
    ({"sd": 0.0}, "evidence.m.sd: must be positive"),
    ({"sd": -1}, "evidence.m.sd: must be positive"),
    ({"likelihood": "lognormal", "observed": -2.0, "sigma": 0.1},
     "evidence.m.observed: a lognormal error needs a positive observed value"),
    ({"likelihood": "cauchy"}, "evidence.m.likelihood: must be one of"),
    ({"sdd": 1.0}, "evidence.m.sdd: unknown field (did you mean 'sd'?)"),
    ({"likelihood": "student_t", "df": 3}, "evidence.m.scale: missing"),
]


@pytest.mark.parametrize("change, message", BAD)
def test_bad_evidence_is_one_line_with_the_field(tmp_path, capsys, change, message):
    spec = {**_measure(sd=1.0), **change}
    if "sd" in change and "likelihood" in change:
        spec.pop("sd")
    if change.get("likelihood") in ("lognormal", "student_t"):
        spec.pop("sd", None)
    path = _write(tmp_path, spec)
    code, _, err = _cli(["run", str(path), "-n", "1000", "-q"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert message in lines[0] and str(path) in lines[0], err


def test_a_lognormal_error_on_a_quantity_that_can_be_negative_is_refused(tmp_path, capsys):
    path = _write(tmp_path, _measure("x", 1.0, "lognormal", sigma=0.2))
    code, _, err = _cli(["run", str(path), "-n", "1000", "-q"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "evidence.m.likelihood: lognormal needs a positive quantity, but x is <= 0" in err


def test_an_observed_value_no_draw_can_reach_is_refused_with_how_far(tmp_path, capsys):
    path = _write(tmp_path, _measure("x", 40.0, "normal", sd=0.5))
    code, _, line = _cli(["run", str(path), "-n", "1000", "-q", "--out", str(tmp_path / "out")],
                         capsys)
    assert code == 2 and len(line.strip().splitlines()) == 1
    assert "evidence.m: observed 40 is" in line and "error sds above every value of x" in line
    assert "contradicts the priors" in line
    assert not (tmp_path / "out").exists()


def test_pieces_that_together_contradict_the_priors_are_named():
    sc = _scenario({"x": PRIOR_NORMAL}, [{"name": "hi", "condition": "x > 1", "source": "t"},
                                         {"name": "lo", "condition": "x < -1", "source": "t"}])
    with pytest.raises(McsimError, match="every draw has weight zero.*hi 1[0-9.]*%, lo"):
        engine.simulate(sc, 10_000, seed=1)


def test_a_view_replaces_or_drops_evidence_by_name(tmp_path):
    base = _write(tmp_path, _measure(sd=1.0), name="base.toml")
    view = tmp_path / "view.toml"
    view.write_text('extends = "base.toml"\n\n[[evidence]]\nname = "m"\ndrop = true\n\n'
                    '[[evidence]]\nname = "k"\ncondition = "x > 0"\nsource = "t"\n')
    sc = load_scenario(view)
    assert [e.name for e in sc.evidence] == ["k"]
    assert load_scenario(base).evidence[0].params["sd"] == 1.0
    assert load_scenario(view, evidence=False).evidence == ()


def test_run_reports_the_posterior_the_prior_and_the_ess(tmp_path, capsys):
    path = _write(tmp_path, _measure(observed=1.0, sd=0.5),
                  claims={"c": {"output": "y", "value": 1.0, "source": "t"}})
    out = tmp_path / "out"
    code, stdout, err = _cli(["run", str(path), "-n", "100k", "--seed", "1", "-q", "--out",
                              str(out)], capsys)
    assert code == 0, err
    assert "effective sample size" in stdout
    assert "prior median" in stdout and "prior percentile" in stdout
    with open(out / "manifest.json", encoding="utf-8") as f:
        manifest = __import__("json").load(f)
    assert manifest["evidence"]["pieces"][0]["name"] == "m"
    header = (out / "summary.csv").read_text().splitlines()[0]
    assert header.endswith("ess,prior_mean,prior_median,prior_ci_low,prior_ci_high")
    code, stdout, _ = _cli(["run", str(path), "-n", "100k", "--seed", "1", "-q",
                            "--no-evidence", "--out", str(tmp_path / "plain")], capsys)
    assert code == 0 and "effective sample size" not in stdout


def test_few_effective_draws_warn_on_stderr(tmp_path, capsys):
    path = _write(tmp_path, _measure(observed=3.0, sd=0.01))
    code, _, err = _cli(["run", str(path), "-n", "50k", "--seed", "1", "-q", "--out",
                         str(tmp_path / "o")], capsys)
    assert code == 0, err
    assert "warning: the evidence leaves an effective sample size of" in err


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run the command line as the console script does: exit code, stdout, stderr."""
    try:
        main(args)
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _write(tmp_path, evidence: dict, name: str = "ev.toml", claims: dict | None = None):
    lines = ['schema = 1', '[inputs.x]', 'dist = "normal"', 'loc = 0.0', 'scale = 1.0',
             'unit = "u"', 'source = "test"', '[outputs.y]', 'formula = "x"']
    for cname, c in (claims or {}).items():
        lines += [f"[claims.{cname}]", *(f"{k} = {_toml(v)}" for k, v in c.items())]
    lines += ["[[evidence]]", *(f"{k} = {_toml(v)}" for k, v in evidence.items())]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    tomllib.loads(path.read_text())  # the test writes valid TOML
    return path


def _toml(v) -> str:
    return f'"{v}"' if isinstance(v, str) else repr(v)


def test_the_weighted_histogram_is_the_counts_histogram_coarsened():
    """An always-true condition weighs every draw 1: each coarse bin holds exactly the
    draws of its fine bins (negative, zero and positive values; see ``Layout``)."""
    inputs = {"x": PRIOR_NORMAL,
              "k": {"dist": "discrete", "values": [0.0, 1.0], "weights": [0.3, 0.7],
                    "unit": "u", "source": "t"}}
    sc = _scenario(inputs, [{"name": "all", "condition": "x < 1e9", "source": "t"}],
                   outputs={"y": {"formula": "x * k"}})
    sim = engine.simulate(sc, 200_000, seed=8)
    fine = sim.prior["y"].histogram
    coarse = sim.outputs["y"].histogram
    assert coarse.layout == engine.weighted_layout(fine.layout)
    lay = fine.layout
    s, c = 1 << lay.sub_bits, 1 << (lay.sub_bits - 2)
    nb, pb = lay.neg.n * s, lay.pos.n * s
    f = fine.counts
    expected = np.concatenate([f[:1], f[1:nb + 1].reshape(-1, 4).sum(axis=1), f[nb + 1:nb + 4],
                               f[nb + 4:nb + 4 + pb].reshape(-1, 4).sum(axis=1), f[-1:]])
    assert len(expected) == (lay.neg.n + lay.pos.n) * c + 5
    assert np.array_equal(coarse.counts, expected.astype(float))
    assert f[nb + 2] > 0  # the atom at zero was counted
