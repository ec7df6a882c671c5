"""The bibliography: every citation in the shipped scenarios resolves to an entry with an
address, unknown keys are refused, and the product never points at files users do not have."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from builders import run_main
from mcsim.bibliography import STATUSES, citations, load_bibliography, to_markdown
from mcsim.cli import cli
from mcsim.errors import McsimError, SpecError
from mcsim.scenario import builtin_bibliography, builtin_scenarios, load_scenario

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def entries():
    return builtin_bibliography()


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_every_source_of_a_shipped_scenario_cites_the_bibliography(name, entries):
    sc = load_scenario(name)  # loading resolves every [@key]; an unknown one raises
    texts = [*(i.source for i in sc.inputs), *(c.source for c in sc.claims),
             *(c.source for c in sc.correlations)]
    uncited = [t for t in texts if not citations(t)]
    assert not uncited, f"{name}: sources without a [@key]: {uncited[:3]}"
    assert {s.key for s in sc.bibliography} <= set(entries)


def test_every_entry_has_an_address_and_checked_figures(entries):
    assert len(entries) > 30
    for s in entries.values():
        assert s.url.startswith(("http://", "https://")) and s.title and s.date, s.key
        assert s.figures and all(f.status in STATUSES for f in s.figures), s.key


def test_every_entry_is_cited_by_some_shipped_scenario(entries):
    cited = {s.key for name in builtin_scenarios() for s in load_scenario(name).bibliography}
    assert set(entries) - cited == set()


def test_citations_are_read_in_order_once_each():
    assert citations("a [@x] b [@y; @z] c [@x]") == ("x", "y", "z")
    assert citations("no citation [see @x] or [x]") == ()


def test_an_unknown_key_names_the_file_the_field_and_a_close_key(tmp_path, monkeypatch, capsys):
    path = tmp_path / "view.toml"
    path.write_text('schema = 1\nextends = "deepseek"\n[inputs.pue]\ndist = "constant"\n'
                    'value = 1.2\nunit = "ratio"\nsource = "[@epoch-training-cost-trend]"\n')
    with pytest.raises(SpecError) as err:
        load_scenario(path)
    message = str(err.value)
    assert message.startswith(f"{path}: inputs.pue.source: cites unknown source")
    assert "did you mean 'epoch-training-cost-trends'" in message
    code, out, err = run_main(["check", str(path)], monkeypatch, capsys)
    assert code == 2 and err == f"mcsim: error: {message}\n" and out == ""


def test_a_sources_file_beside_a_scenario_adds_entries(tmp_path):
    (tmp_path / "sources.toml").write_text(
        '[my-note-2026]\ntitle = "My measurement"\npublisher = "me"\ndate = "2026"\n'
        'url = "https://example.org/m"\n'
        'figures = [{ what = "PUE", value = "1.2", status = "verified" }]\n')
    path = tmp_path / "view.toml"
    path.write_text('schema = 1\nextends = "deepseek"\n[inputs.pue]\ndist = "constant"\n'
                    'value = 1.2\nunit = "ratio"\nsource = "[@my-note-2026]; [@modb-pue]"\n')
    keys = [s.key for s in load_scenario(path).bibliography]
    assert "my-note-2026" in keys and "modb-pue" in keys


@pytest.mark.parametrize(("entry", "message"), [
    ('[x]\ntitle = "t"\npublisher = "p"\ndate = "d"\n', "x.url: missing"),
    ('[x]\ntitle = "t"\npublisher = "p"\ndate = "d"\nurl = "ftp://a"\n', "x.url: must be an http"),
    ('[x]\ntitle = "t"\npublisher = "p"\ndate = "d"\nurl = "https://a"\n'
     'figures = [{ what = "a", value = "b", status = "sure" }]\n', "x.figures[0].status: must be"),
    ('[x]\ntitle = "t"\npublisher = "p"\ndate = "d"\nurl = "https://a"\nyear = 1\n',
     "x.year: unknown field"),
    ('[Bad_Key]\n', "Bad_Key: keys are lower-case"),
])
def test_bad_bibliography_entries_are_refused(tmp_path, entry, message):
    path = tmp_path / "sources.toml"
    path.write_text(entry)
    with pytest.raises(McsimError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        load_bibliography(path)
    assert str(err.value).startswith(f"{path}: ")


def test_sources_md_is_generated_from_sources_toml(entries):
    """priors/SOURCES.md is what `python tools/headline.py --sources` writes."""
    assert (ROOT / "priors" / "SOURCES.md").read_text(encoding="utf-8") == to_markdown(entries)


def test_check_prints_each_cited_entry_with_its_address(entries):
    out = CliRunner().invoke(cli, ["check", "deepseek"]).output
    assert "bibliography" in out
    for s in load_scenario("deepseek").bibliography:
        assert f"[@{s.key}]" in out and s.url in out


def test_nothing_in_the_product_points_at_the_teams_private_notes():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=False).stdout.split()
    if not tracked:  # not a git checkout (an sdist): read what is there
        tracked = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()]
    offenders = [name for name in tracked
                 if not name.startswith(("tests/", ".git")) and Path(ROOT / name).is_file()
                 and "shared/" in (ROOT / name).read_text(encoding="utf-8", errors="ignore")]
    assert offenders == [], offenders


def test_a_bibliography_is_read_as_a_bounded_regular_file(tmp_path):
    """The same reader as scenario files: a folder is refused before a byte is read, and so
    is a file past the cap, in one line naming it."""
    (tmp_path / "folder").mkdir()
    with pytest.raises(McsimError, match="not a regular file \\(a folder\\); a bibliography"):
        load_bibliography(tmp_path / "folder")
    big = tmp_path / "sources.toml"
    big.write_text("# " + "x" * 1_000_000 + "\n")
    with pytest.raises(McsimError, match="larger than the 1 MB a bibliography file may hold"):
        load_bibliography(big)
