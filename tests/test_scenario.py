"""Loading scenario files: every mistake is one SpecError naming the file and the key."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from builders import run_main
from mcsim.errors import McsimError, SpecError
from mcsim.scenario import builtin_scenarios, load_scenario

GOOD = """
schema = 1
title = "Test"

[inputs.n]
dist = "lognormal"
p5 = 8000
p95 = 12000
unit = "GPU"
source = "somebody"

[inputs.price]
p10 = 30000
p50 = 40000
p90 = 60000
unit = "USD"
source = "somebody else"

[derived]
capex = "n * price"

[outputs.capex]
formula = "capex"
unit = "USD"
label = "Capex"

[outputs.ratio]
formula = "capex / 6e6"
unit = "x"

[claims.press]
output = "ratio"
value = 266.67
source = "the press"
"""


def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_scenario_loads(tmp_path):
    sc = load_scenario(write(tmp_path, GOOD))
    assert [i.name for i in sc.inputs] == ["n", "price"]
    assert sc.input("n").prior.family == "lognormal"
    assert sc.output("ratio").label == "ratio"
    assert sc.claims[0].value == 266.67
    assert len(sc.sha256) == 64 and sc.name == "s"


@pytest.mark.parametrize("old, new, key, message", [
    ("p5 = 8000", "p5 = 13000", "inputs.n.p5", "must be less than p95"),
    ("p5 = 8000", "p5 = -1", "inputs.n.p5", "positive p5 and p95"),
    ('dist = "lognormal"', 'dist = "lognorml"', "inputs.n.dist", "did you mean 'lognormal'"),
    ('source = "somebody"\n', "", "inputs.n.source", "missing"),
    ('source = "somebody"', 'sorce = "somebody"', "inputs.n.sorce",
     "unknown field (did you mean 'source'?)"),
    ('capex = "n * price"', 'capex = "n * prize"', "derived.capex", "unknown name 'prize'"),
    ('capex = "n * price"', 'capex = "n * capex"', "derived.capex", "cycle: capex -> capex"),
    ('capex = "n * price"', 'capex = "n ^ 2"', "derived.capex", "use ** for powers"),
    ('output = "ratio"', 'output = "ratoi"', "claims.press.output", "did you mean 'ratio'"),
    ("value = 266.67", 'value = "266"', "claims.press.value", "must be a number"),
    ("schema = 1", "schema = 2", "schema", "unsupported version"),
    ('formula = "capex / 6e6"', 'formula = "capex / six"', "outputs.ratio.formula",
     "unknown name 'six'"),
    ("[inputs.n]", "[inputs.min]", "inputs.min", "'min' is reserved: it is a function"),
    ("[inputs.n]", "[inputs.e]", "inputs.e", "'e' is reserved: it is a constant (= 2.71828)"),
    ("[inputs.n]", "[inputs.pi]", "inputs.pi", "'pi' is reserved: it is a constant"),
    ("[inputs.n]", "[inputs.sin]", "inputs.sin", "'sin' is reserved: it is a function"),
    ("[inputs.n]", "[inputs.lambda]", "inputs.lambda", "'lambda' is reserved: it is a keyword"),
    ("[inputs.n]", '[inputs."2n"]', "inputs.2n", "names must be identifiers"),
    ('capex = "n * price"', 'capex = "n * price"\nround = "1"', "derived.round",
     "'round' is reserved"),
    ("[outputs.ratio]", "[outputs.log10]", "outputs.log10", "'log10' is reserved"),
    ('formula = "capex / 6e6"', 'formula = "twice / 6e6"\n[outputs.twice]\nformula = "2 * ratio"',
     "outputs.ratio.formula", "cycle: ratio -> twice -> ratio"),
    ('formula = "capex / 6e6"', 'formula = "ratio + 1"', "outputs.ratio.formula",
     "cycle: ratio -> ratio"),
    ('output = "ratio"', 'output = "rati"', "claims.press.output",
     "unknown output or quantity 'rati' (did you mean 'ratio'?)"),
    ('unit = "x"', 'unit = "x"\ncolour = "red"', "outputs.ratio.colour", "unknown field"),
])
def test_errors_name_file_key_and_problem(tmp_path, old, new, key, message):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(SpecError) as info:
        load_scenario(path)
    text = str(info.value)
    assert text.startswith(f"{path}: {key}: "), text
    assert message in text
    assert "\n" not in text


OUTPUTS_OF_OUTPUTS = """
schema = 1
[inputs.n]
dist = "uniform"
min = 1
max = 2
unit = "GPU"
source = "test"
[derived]
price = "3 * n"
[outputs.capex]
formula = "n * price"
unit = "USD"
[outputs.ratio]
formula = "capex / 6e6"
[outputs.per_gpu]
formula = "ratio * 6e6 / n"
[claims.on_an_output_of_outputs]
output = "per_gpu"
value = 4
source = "test"
[claims.on_a_derived_quantity]
output = "price"
value = 4.5
source = "test"
[claims.on_an_input]
output = "n"
value = 1.5
source = "test"
"""


def test_outputs_use_outputs_and_claims_name_any_quantity(tmp_path):
    """An output may use other outputs (each is computed once, as a derived quantity of its
    name); a claim on an input or a derived quantity is audited against an implicit output."""
    from mcsim.engine import sample, simulate

    sc = load_scenario(write(tmp_path, OUTPUTS_OF_OUTPUTS))
    assert [name for name, _ in sc.derived] == ["price", "capex", "ratio"]
    assert [o.name for o in sc.outputs] == ["capex", "ratio", "per_gpu", "price", "n"]
    assert [o.implicit for o in sc.outputs] == [False] * 3 + [True] * 2
    assert sc.output("n").unit == "GPU" and sc.output("capex").formula.text == "n * price"
    df = sample(sc, 1000, seed=1)
    np.testing.assert_allclose(df["capex"], 3 * df["n"] ** 2, rtol=1e-15)
    np.testing.assert_allclose(df["ratio"], df["capex"] / 6e6, rtol=1e-15)
    np.testing.assert_allclose(df["per_gpu"], 3 * df["n"], rtol=1e-14)
    claims = simulate(sc, 100_000, seed=1).claims().set_index("claim")
    # per_gpu = 3n and price = 3n with n ~ U(1, 2): P(3n <= 4) = 1/3, P(3n <= 4.5) = 1/2
    assert claims.at["on_an_output_of_outputs", "percentile"] == pytest.approx(100 / 3, abs=1)
    assert claims.at["on_a_derived_quantity", "percentile"] == pytest.approx(50, abs=1)
    assert claims.at["on_an_input", "percentile"] == pytest.approx(50, abs=1)


def test_broken_toml_and_missing_file(tmp_path):
    with pytest.raises(McsimError, match=r"s\.toml: invalid TOML"):
        load_scenario(write(tmp_path, "schema = = 1"))
    with pytest.raises(McsimError, match="no such scenario file"):
        load_scenario(tmp_path / "missing.toml")


def test_weights_must_sum_to_one(tmp_path):
    text = GOOD.replace('dist = "lognormal"\np5 = 8000\np95 = 12000',
                        'dist = "discrete"\nvalues = [1, 2]\nweights = [0.5, 0.6]')
    with pytest.raises(SpecError, match=r"inputs\.n\.weights: must sum to 1"):
        load_scenario(write(tmp_path, text))


def test_builtin_default_is_deepseek_and_every_input_has_a_source(deepseek):
    assert "deepseek" in builtin_scenarios()
    assert deepseek.name == "deepseek"
    for inp in deepseek.inputs:
        assert inp.source.strip() and inp.unit.strip(), inp.name
    assert deepseek.unused_inputs() == []
    assert {c.name for c in deepseek.claims} >= {"press_266x", "press_400x", "sa_capex_1_6b"}


def test_extends_overrides_entries_and_keeps_the_rest(tmp_path):
    write(tmp_path, GOOD, "base.toml")
    view = write(tmp_path, 'extends = "base.toml"\ntitle = "View"\n'
                           '[inputs.n]\ndist = "uniform"\nmin = 1\nmax = 2\nunit = "GPU"\n'
                           'source = "my view"\n'
                           '[claims.other]\noutput = "capex"\nvalue = 1e9\nsource = "me"\n',
                 "view.toml")
    sc = load_scenario(view)
    base = load_scenario(tmp_path / "base.toml")
    assert sc.title == "View" and sc.name == "view"
    assert sc.input("n").prior.family == "uniform" and sc.input("n").source == "my view"
    assert sc.input("price") == base.input("price")
    assert [c.name for c in sc.claims] == ["press", "other"]
    assert sc.sha256 != base.sha256


def test_extends_errors(tmp_path):
    a = write(tmp_path, 'extends = "b.toml"\n', "a.toml")
    write(tmp_path, 'extends = "a.toml"\n', "b.toml")
    with pytest.raises(SpecError, match=r"b\.toml: extends: cycle: a\.toml -> b\.toml -> a"):
        load_scenario(a)
    c = write(tmp_path, 'extends = "nowhere.toml"\n', "c.toml")
    with pytest.raises(SpecError, match=r"c\.toml: extends: no such scenario 'nowhere.toml'"):
        load_scenario(c)
    d = write(tmp_path, GOOD.replace("schema = 1", 'schema = 1\nextends = 3'), "d.toml")
    with pytest.raises(SpecError, match="must be a file name"):
        load_scenario(d)


@pytest.mark.parametrize("base", ["deepseek", "deepseek.toml"])
def test_extends_a_builtin_by_name(tmp_path, base):
    view = write(tmp_path, f'extends = "{base}"\ntitle = "Mine"\n', "mine.toml")
    sc = load_scenario(view)
    assert sc.title == "Mine" and len(sc.inputs) == len(load_scenario().inputs)


def test_claim_values_must_be_finite(tmp_path):
    with pytest.raises(SpecError, match=r"claims\.press\.value: must be finite"):
        load_scenario(write(tmp_path, GOOD.replace("value = 266.67", "value = nan")))


def test_errors_in_a_base_name_the_base(tmp_path):
    write(tmp_path, GOOD.replace("p5 = 8000", "p5 = 13000"), "base.toml")
    child = write(tmp_path, 'extends = "base.toml"\ntitle = "child"\n', "child.toml")
    with pytest.raises(SpecError) as info:
        load_scenario(child)
    # the file given, its key, the file it names, and the field there
    assert str(info.value).startswith(f"{child}: extends: {tmp_path / 'base.toml'}: "
                                      "inputs.n.p5: ")
    bad = GOOD.replace('[derived]\ncapex = "n * price"\n', "").replace(
        'title = "Test"', 'title = "Test"\nderived = 5')
    write(tmp_path, bad, "bad.toml")
    child2 = write(tmp_path, 'extends = "bad.toml"\n', "child2.toml")
    with pytest.raises(SpecError, match="derived: must be a table"):
        load_scenario(child2)


def test_an_output_named_like_a_quantity_must_report_it(tmp_path):
    text = GOOD.replace('[outputs.ratio]\nformula = "capex / 6e6"',
                        '[outputs.price]\nformula = "capex / 6e6"')
    with pytest.raises(SpecError, match=r"outputs\.price\.formula: an output named like"):
        load_scenario(write(tmp_path, text.replace('output = "ratio"', 'output = "price"')))


def test_deep_formulas_are_a_clean_error():
    from mcsim.formula import parse

    with pytest.raises(SpecError, match="nested more than"):
        parse(" ** ".join(["x"] * 600), "derived.big")  # a power tower: nested for real
    with pytest.raises(SpecError, match="nested more than|syntax error"):
        parse("(" * 5000 + "x" + ")" * 5000, "derived.deep")
    assert parse(" + ".join(["x"] * 300)).names == {"x"}


def _fifo(tmp_path):
    path = tmp_path / "pipe.toml"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("make, kind", [
    (_fifo, "a FIFO"),
    (lambda tmp_path: tmp_path, "a folder"),
])
def test_only_regular_files_are_read(tmp_path, make, kind):
    """/dev/zero was read until memory ran out; a FIFO blocked for ever."""
    path = make(tmp_path)
    done = threading.Event()
    errors = []

    def load():
        try:
            load_scenario(path)
        except McsimError as err:
            errors.append(str(err))
        done.set()

    threading.Thread(target=load, daemon=True).start()
    assert done.wait(10), f"loading {kind} did not return"
    assert errors == [f"{path}: not a regular file ({kind}); a scenario is a TOML file"]


def test_check_dev_zero_is_one_line_and_exit_2(tmp_path):
    """It read until memory ran out (3.4 GB), then printed a MemoryError traceback; here
    memory is capped at 1 GB so that a regression fails instead of exhausting the machine."""
    def cap_memory():
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    child = write(tmp_path, 'extends = "/dev/zero"\n', "child.toml")
    for target, message in [("/dev/zero", "/dev/zero: not a regular file"),
                            (str(child), f"{child}: extends: /dev/zero: not a regular file")]:
        proc = subprocess.run([sys.executable, "-m", "mcsim", "check", target], text=True,
                              capture_output=True, timeout=120, preexec_fn=cap_memory)
        assert proc.returncode == 2 and proc.stdout == "", proc.stderr[-500:]
        assert proc.stderr.startswith(f"mcsim: error: {message} (a character device)")
        assert proc.stderr.count("\n") == 1


def test_scenario_files_have_a_size_cap(tmp_path):
    """10 MB (10**7 bytes) is read; one byte more is refused, without reading it all."""
    padded = GOOD + "#" * (10**7 - len(GOOD.encode()) - 1) + "\n"
    assert load_scenario(write(tmp_path, padded)).title == "Test"
    big = write(tmp_path, padded + "\n", "big.toml")
    with pytest.raises(McsimError) as info:
        load_scenario(big)
    assert str(info.value) == f"{big}: larger than the 10 MB a scenario file may hold"



ONE_INPUT = """schema = 1
[inputs.a]
{prior}
unit = "USD"
source = "t"
[outputs.cost]
formula = "a"
unit = "USD"
"""


@pytest.mark.parametrize("prior, message", [
    ('dist = "uniform"\nmin = -1e308\nmax = 1e308',
     "its range [-1e+308, 1e+308] goes beyond +-1e100"),
    ('dist = "normal"\nloc = 1e308\nscale = 1', "its p0.1 to p99.9 [1e+308, 1e+308] goes beyond"),
    ('dist = "normal"\nloc = 0\nscale = 1e308', "its p0.1 to p99.9 [-inf, inf] overflows a double"),
    ('dist = "lognormal"\nmu = 0\nsigma = 300', "[0, inf] overflows a double"),
    ('dist = "lognormal"\nmu = 300\nsigma = 1', "goes beyond +-1e100"),
    ('dist = "gamma"\na = 2\nscale = 1e200', "its p0.1 to p99.9 [4.54e+198, 9.23e+200]"),
    ('dist = "truncnormal"\nloc = 0\nscale = 1e150\nmin = 0', "goes beyond +-1e100"),
    ('dist = "discrete"\nvalues = [1, 1e200]\nweights = [0.5, 0.5]', "its range [1, 1e+200]"),
    ("value = -1e101", "its range [-1e+101, -1e+101]"),
])
def test_priors_whose_draws_overflow_are_refused(tmp_path, prior, message):
    """A uniform on [-1e308, 1e308] ran with every draw non-finite; a normal at 1e308 printed
    numpy warnings and 300-digit dollar figures."""
    path = write(tmp_path, ONE_INPUT.format(prior=prior))
    with pytest.raises(SpecError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: inputs.a: ") and message in str(info.value)


def test_priors_up_to_the_limit_load(tmp_path):
    for prior in ['dist = "uniform"\nmin = -1e100\nmax = 1e100', "value = 1e100",
                  'dist = "normal"\nloc = 0\nscale = 3e99', 'p5 = 1e-3\np95 = 1e30']:
        load_scenario(write(tmp_path, ONE_INPUT.format(prior=prior)))


def test_check_of_an_overflowing_prior_prints_no_warning(tmp_path):
    path = write(tmp_path, ONE_INPUT.format(prior='dist = "normal"\nloc = 1e308\nscale = 1'))
    proc = subprocess.run([sys.executable, "-W", "default", "-m", "mcsim", "check", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


def test_scenarios_command_lists_every_builtin_with_a_file_that_loads(monkeypatch, capsys):
    code, out, err = run_main(["scenarios"], monkeypatch, capsys)
    assert code == 0 and err == ""
    listed = dict(line.split("\t") for line in out.splitlines())
    assert {"deepseek", "sceptical", "semianalysis-view"} <= set(listed)
    assert listed.keys() == builtin_scenarios().keys()
    for name, path in listed.items():
        assert Path(load_scenario(name).path).resolve() == Path(path).resolve()
