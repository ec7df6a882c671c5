"""The command line: read options, call the library, print and export. No logic of its own."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import click

from .errors import McsimError
from .sampling import DEFAULT_REPLICATES, MAX_REPLICATES, SAMPLERS

CI_HELP = "credible level of the equal-tailed interval, in percent (default 90)"
SEED_HELP = "random seed (printed when not given, so a run can be repeated)"
MAX_DRAWS_UNTIL = 100_000_000  # --until's cap when --max-draws is not given


class _Count(click.ParamType):
    name = "COUNT"

    def convert(self, value, param, ctx):
        from .units import parse_count

        try:
            return parse_count(value, f"--{param.name}" if param else "count")
        except McsimError as err:
            self.fail(str(err).split(": ", 1)[-1], param, ctx)


def _seed(text: str = SEED_HELP):
    return click.option("--seed", type=click.IntRange(min=0), default=None, help=text)


def _threads(text: str = "parallel threads"):
    return click.option("--threads", type=click.IntRange(min=1), default=None, help=text)


def _cluster(command):
    """``--scheduler`` and ``--dask``: reduce the draws on a Dask cluster (``executors.py``)."""
    command = click.option(
        "--dask", "dask", default=None, metavar="local[:N]",
        help="run the draws on a local Dask cluster of N worker processes (default: one per "
             "core); the same results as without; needs mcsim[dask]")(command)
    return click.option(
        "--scheduler", default=None, metavar="ADDRESS",
        help="run the draws on the Dask cluster of this scheduler (e.g. tcp://host:8786); "
             "the same results as without; needs mcsim[dask]")(command)


_ci = click.option("--ci", type=float, default=90.0, show_default=True, help=CI_HELP)
_repair = click.option("--repair-correlations", is_flag=True,
                       help="replace an invalid correlation matrix by the nearest valid one")
_no_evidence = click.option("--no-evidence", is_flag=True,
                            help="ignore the scenario's [[evidence]]: the priors alone")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mcsim", prog_name="mcsim")
def cli() -> None:
    """Monte Carlo uncertainty for cost claims about AI infrastructure.

    The built-in scenario is DeepSeek's: fleet capex, opex and total cost against the claimed
    $5.576M V3 training cost, and where the press's "266x" and "400x" fall.
    """


@cli.command()
@click.argument("scenario", required=False)
@click.option("--draws", "-n", type=_Count(), default="1M", show_default=True,
              help="number of draws: 10M, 2.5M, 1e7, 1_000_000, 1B")
@_seed()
@_ci
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="results folder (default results/<scenario>-<UTC time>/)")
@_threads("parallel threads (default: all cores)")
@click.option("--until", "until", multiple=True, metavar="STAT:TOL",
              help="keep drawing until this Monte Carlo error is reached, e.g. p95:0.5%, "
                   "mean:0.1%, median:1%@99, tco.ci:0.5% (repeatable; --draws is ignored)")
@click.option("--max-draws", type=_Count(), default=None,
              help="with --until: stop here even if not converged  [default: 100M]")
@_repair
@_no_evidence
@click.option("--sampler", type=click.Choice(SAMPLERS), default="mc", show_default=True,
              help="plain Monte Carlo, Latin hypercube, or scrambled Sobol' (lhs and sobol "
                   "run independent replicates and measure their errors from the spread)")
@click.option("--replicates", type=click.IntRange(min=2, max=MAX_REPLICATES), default=None,
              help=f"independent designs for lhs and sobol, 2 to {MAX_REPLICATES} "
                   f"[default: {DEFAULT_REPLICATES}]")
@click.option("--plot", "plot", is_flag=True,
              help="also draw each output's distribution (and the ratios' exceedance curves) "
                   "into charts/ in the results folder; needs matplotlib")
@click.option("--plot-format", type=click.Choice(["png", "svg", "pdf"]), default=None,
              help="image format of the charts (implies --plot)  [default: png]")
@click.option("--quantiles", "quantiles", default=None, metavar="P,P,...",
              help="also report these quantiles (e.g. 0.001,0.01,0.5,0.99) of every output, "
              "each with its standard error, in quantiles.csv")
@_cluster
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def run(scenario, draws, seed, ci, out, threads, until, max_draws, repair_correlations,
        no_evidence, sampler, replicates, plot, plot_format, quantiles, scheduler, dask,
        quiet) -> None:
    """Simulate SCENARIO (a file, or a built-in name; default: deepseek) and report."""
    from . import engine, export, reduce, render, sampling
    from .executors import from_options
    from .quantiles import parse_probabilities
    from .scenario import load_scenario

    plot = plot or plot_format is not None
    plot_format = plot_format or "png"
    if plot:
        from .plot import require_matplotlib

        require_matplotlib()  # before the run, not after it
    level = reduce.check_level(ci)
    probs = parse_probabilities(quantiles) if quantiles is not None else ()
    targets = [reduce.parse_target(t) for t in until]
    if max_draws is not None and not targets:
        raise McsimError("--max-draws: caps a run with --until; without it, set the run's size "
                         "with --draws")
    sc = load_scenario(scenario, repair=repair_correlations, evidence=not no_evidence)
    for t in targets:
        if t.output:
            sc.output(t.output)
    folder = export.check_results_dir(out) if out else None
    seed = engine.new_seed() if seed is None else seed
    stop = reduce.stop_when_precise(targets, level) if targets else None
    if targets:
        draws = max_draws or MAX_DRAWS_UNTIL
    plan = sampling.plan(sampler, draws, replicates, auto_stop=bool(targets))
    with from_options(scheduler, dask) as executor, _progress_bar(plan.draws,
                                                                   quiet) as progress:
        sim = engine.simulate(sc, draws, seed=seed, threads=threads, progress=progress,
                              stop=stop, sampler=sampler, replicates=replicates,
                              quantiles=probs, executor=executor)
    engine.require_finite(sim)
    _warn_weights(sim)
    summary, claims = sim.summary(level), sim.claims()
    charts = {}
    if plot:
        from .plot import output_charts

        charts = {f"charts/{c.filename}": c.data for c in output_charts([sim], level,
                                                                         plot_format)}
    # the files first: a reader that stops early (mcsim run | head) must not lose them
    folder = export.write_results(sim, folder or export.default_out_dir(sc.name), level,
                                  summary, claims, charts)
    if plan.note():
        click.echo(f"note: {plan.note()}")
    width = render.terminal_width()
    click.echo(render.run_header(sim, width))
    if targets:
        click.echo(render.precision_text(sim, reduce.precision(sim, targets, level), width))
    click.echo()
    click.echo(render.summary_text(summary, width))
    if probs:
        click.echo()
        click.echo(render.quantiles_text(sim.quantile_table(), width))
    click.echo()
    click.echo(render.claims_text(claims, width))
    if sc.correlations:
        click.echo()
        table = reduce.rank_correlations(sim, engine.redraw_correlated(sim))
        click.echo(render.correlations_text(table, sc.repairs, width))
    also = ", quantiles.csv" if probs else ""
    click.echo(f"\nwrote {folder}/summary.csv, claims.csv{also}, manifest.json")
    if charts:
        click.echo(f"wrote {len(charts)} charts in {folder}/charts/")


def _warn_weights(sim) -> None:
    """Say on stderr when the evidence leaves few effective draws (``evidence.warnings``)."""
    from .evidence import weight_warnings

    if sim.weights is not None:
        for line in weight_warnings(sim.weights):
            click.echo(f"warning: {line}", err=True)


@cli.command()
@click.argument("scenario", required=False)
@_repair
def check(scenario, repair_correlations) -> None:
    """Validate SCENARIO and list its inputs with p5/p50/p95 and sources (no simulation)."""
    from .render import check_text, terminal_width
    from .scenario import load_scenario

    click.echo(check_text(load_scenario(scenario, repair=repair_correlations), terminal_width()))


@cli.command()
@click.argument("scenario", required=False)
@click.option("--output", "-o", "output", required=True,
              help="the output to explain (see `mcsim check` for the names)")
@click.option("--draws", "-n", type=_Count(), default="2M", show_default=True,
              help="number of draws")
@_seed("random seed (printed when not given)")
@click.option("--methods", default=None, show_default="binned,swing,spearman,ctv,s1,tail; "
              "under evidence binned,spearman,ctv,s1,tail",
              help="comma-separated methods; inputs are ranked by the first")
@click.option("--percentiles", default="10,90", show_default=True,
              help="low and high percentiles of the swing method")
@click.option("--bins", type=int, default=10, show_default=True,
              help="equal-probability bins of the binned method")
@click.option("--inputs", "input_names", default=None, metavar="A,B,...",
              help="rank only these inputs (comma-separated; default: every uncertain input); "
                   "st costs (d + 2) x draws evaluations for d inputs")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="write the tidy table (one row per input and method) here")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="draw the tornado chart here (.png, .svg or .pdf; needs matplotlib)")
@_threads()
@_repair
@_no_evidence
@_cluster
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def sensitivity(scenario, output, draws, seed, methods, percentiles, bins, input_names,
                csv_path, plot_path, threads, repair_correlations, no_evidence, scheduler, dask,
                quiet) -> None:
    """Rank SCENARIO's inputs by their influence on one output (tornado), by several methods."""
    from pathlib import Path

    from . import engine, export, render
    from . import sensitivity as sens
    from .executors import from_options
    from .scenario import load_scenario

    method_list = None if methods is None else tuple(
        m.strip() for m in methods.split(",") if m.strip())
    pcts = _percentiles(percentiles)
    sens.check_settings(sens.DEFAULT_METHODS if method_list is None else method_list, pcts,
                        bins)
    sc = load_scenario(scenario, repair=repair_correlations, evidence=not no_evidence)
    sc.output(output)
    method_list = sens.methods_for(sc, method_list)
    inputs = None if input_names is None else sens.uncertain_inputs(
        sc, tuple(n.strip() for n in input_names.split(",") if n.strip()))
    if csv_path:
        export.check_out_dir(Path(csv_path).parent, "--csv")
    if plot_path:
        from .plot import check_plot_path

        check_plot_path(plot_path)  # fail before the run: a bad name or no matplotlib
        export.check_out_dir(Path(plot_path).parent, "--plot")
    seed = engine.new_seed() if seed is None else seed
    with from_options(scheduler, dask) as executor, _progress_bar(draws, quiet) as progress:
        tor = sens.tornado(sc, output, draws, seed, method_list, pcts, bins, threads, progress,
                           inputs, executor=executor)
    click.echo(render.tornado_text(tor, render.terminal_width()))
    if csv_path:
        click.echo(f"\nwrote {export.write_csv(tor.to_frame(), csv_path)}")
    if plot_path:
        from .plot import tornado_chart

        click.echo(f"wrote {tornado_chart(tor, plot_path)}")


@cli.command()
@click.argument("scenarios", nargs=-1)
@click.option("--draws", "-n", type=_Count(), default="1M", show_default=True,
              help="draws per scenario: 10M, 2.5M, 1e7, 1_000_000, 1B")
@_seed("random seed, the same for every scenario (printed when not given)")
@_ci
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="report folder (default results/<scenario>-report-<UTC time>/)")
@click.option("--tornado", "tornado_outputs", multiple=True, metavar="OUTPUT",
              help="draw the tornado of this output (repeatable; default: the outputs that "
                   "claims speak about)")
@click.option("--tornado-draws", type=_Count(), default="500k", show_default=True,
              help="draws per tornado (at most --draws)")
@click.option("--sweep", "sweeps", multiple=True, metavar="NAME=VALUES",
              help="add a section: the first scenario with this input held at each value "
                   "(as mcsim sweep --set; --tornado-draws per point; repeatable)")
@click.option("--paired-runs", "replicates", type=click.IntRange(min=2), default=20,
              show_default=True, help="paired sub-runs behind the error of a difference of "
                                      "medians (several scenarios)")
@_threads()
@_repair
@_no_evidence
@_cluster
@click.option("--quiet", "-q", is_flag=True, help="no progress messages")
def report(scenarios, draws, seed, ci, out, tornado_outputs, tornado_draws, sweeps, replicates,
           threads, repair_correlations, no_evidence, scheduler, dask, quiet) -> None:
    """One self-contained HTML page for SCENARIO(s) (default: deepseek): settings, tables,
    inputs with priors and sources, distribution charts with the claims, tornados. Several
    scenarios are drawn with the same seed and compared."""
    from . import engine, export
    from . import report as rep
    from .executors import from_options
    from .plot import require_matplotlib
    from .reduce import check_level
    from .scenario import load_scenario

    level = check_level(ci)
    require_matplotlib()  # before the runs, not after them
    loaded = [load_scenario(s, repair=repair_correlations, evidence=not no_evidence)
              for s in scenarios or [None]]
    rep.check_scenarios(loaded, tornado_outputs)
    folder = export.check_results_dir(out) if out else None
    seed = engine.new_seed() if seed is None else seed

    def log(message: str) -> None:
        if not quiet:
            click.echo(f"mcsim report: {message}", err=True)

    with from_options(scheduler, dask) as executor:
        result = rep.build_report(loaded, draws, seed, level, tornado_outputs, tornado_draws,
                                  replicates, threads, log, sweeps, executor=executor)
    name = "-vs-".join(sc.name for sc in loaded)
    folder = rep.write_report(result, folder or export.default_out_dir(f"{name}-report"))
    click.echo(f"{' vs '.join(sc.name for sc in loaded)}: seed {seed}, {draws:,} draws")
    click.echo(f"wrote {folder}/index.html, {', '.join(list(result.files())[1:])}")


def _percentiles(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise McsimError(f"--percentiles: give two numbers like 10,90 (got {text!r})") from None
    return lo, hi


@cli.command()
@click.option("--draws", "sizes", default="1M,10M", show_default=True,
              help="comma-separated draw counts for each case")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="runs per timing (the median is reported)")
@click.option("--numpy-draws", type=_Count(), default="10M", show_default=True,
              help="draws for the numpy baselines")
@click.option("--no-numpy", is_flag=True, help="skip the numpy baselines")
@click.option("--no-families", is_flag=True, help="skip the one-family cases")
@click.option("--no-sweep", is_flag=True, help="skip the 21-point DeepSeek sweep")
@click.option("--no-process", is_flag=True,
              help="skip the whole-process cold and warm `mcsim run` timings")
@click.option("--dask", "dask", default=None, metavar="local[:N]",
              help="instead: the Dask cases only, DeepSeek on N worker processes against N "
                   "threads here, at each --draws (e.g. --draws 100M,1B --repeats 1)")
@click.option("--save", "save_dir", type=click.Path(file_okay=False), default=None,
              help="append the results here (default: benchmarks/results if it exists)")
@click.option("--history", "show_history", is_flag=True,
              help="show the recorded history instead of running")
def bench(sizes, repeats, numpy_draws, no_numpy, no_families, no_sweep, no_process, dask,
          save_dir, show_history) -> None:
    """Measure draws per second (mcsim against numpy) and keep the history."""
    from pathlib import Path

    from . import bench as suite
    from .render import bench_text, terminal_width
    from .units import parse_count

    folder = Path(save_dir or "benchmarks/results")
    if show_history:
        click.echo(suite.history(folder).to_string(index=False))
        return
    counts = tuple(parse_count(s, "--draws") for s in sizes.split(","))
    if dask:
        table = suite.time_dask(dask, counts, repeats)
    else:
        table = suite.run_suite(counts, repeats, None if no_numpy else numpy_draws,
                                not no_families, not no_process,
                                process_draws=f"{max(counts):d}", sweeps=not no_sweep)
    click.echo(bench_text(table, terminal_width()))
    if save_dir or folder.is_dir():
        click.echo(f"\nappended to {suite.append_history(suite.record(table), folder)}")


@cli.command()
@click.argument("scenario", required=False)
@click.option("--set", "set_axes", multiple=True, metavar="NAME=VALUES",
              help="hold an input at each value: a list 0,10000,30000, a range 0:50000:11 "
                   "(11 values) or log:1000:64000:7 (repeatable: a grid)")
@click.option("--scale", "scale_axes", multiple=True, metavar="NAME=VALUES",
              help="multiply an input's prior by each factor, keeping its uncertainty, "
                   "e.g. 0.5:2:7 (repeatable)")
@click.option("--output", "-o", "outputs", multiple=True,
              help="an output to report (repeatable; default: the claimed outputs that the "
                   "swept inputs move)")
@click.option("--claim", default=None,
              help="the claim whose P(true > claimed) a two-input heatmap shows "
                   "(default: the first on the first output)")
@click.option("--draws", "-n", type=_Count(), default="1M", show_default=True,
              help="draws per point")
@_seed("random seed, the same at every point (printed when not given)")
@_ci
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="results folder for sweep.csv and sweep.png "
                   "(default results/<scenario>-sweep-<UTC time>/)")
@click.option("--no-plot", is_flag=True, help="write no chart (matplotlib not needed)")
@click.option("--force", is_flag=True, help="allow a grid of more than 10,000 points")
@_threads()
@_repair
@_no_evidence
@_cluster
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def sweep(scenario, set_axes, scale_axes, outputs, claim, draws, seed, ci, out, no_plot, force,
          threads, repair_correlations, no_evidence, scheduler, dask, quiet) -> None:
    """Run SCENARIO at each value of one or two inputs, with common random numbers: every
    point has the same seed, and every other input the same draws."""
    from . import engine, export, render
    from . import sweep as sw
    from .executors import from_options
    from .reduce import check_level
    from .scenario import load_scenario

    level = check_level(ci)
    if not no_plot:
        from .plot import require_matplotlib

        require_matplotlib()
    sc = load_scenario(scenario, repair=repair_correlations, evidence=not no_evidence)
    axes = [sw.parse_axis(t, "set") for t in set_axes] + [sw.parse_axis(t, "scale")
                                                          for t in scale_axes]
    for name in outputs:
        sc.output(name)
    if claim is not None:
        sw.find_claim(sc, claim)
    folder = export.check_results_dir(out) if out else None
    seed = engine.new_seed() if seed is None else seed

    def warn(message: str) -> None:
        click.echo(message, err=True)

    with from_options(scheduler, dask) as executor, _progress_bar(sw.grid_size(axes),
                                                                   quiet) as progress:
        result = sw.sweep(sc, axes, output=outputs or None, draws=draws, seed=seed, ci=level,
                          threads=threads, force=force, warn=warn, progress=progress,
                          executor=executor)
    files: dict[str, str | bytes] = {"sweep.csv": result.to_frame().to_csv(index=False)}
    if not no_plot:
        from .plot import figure_bytes, sweep_figure

        files["sweep.png"] = figure_bytes(sweep_figure(result, claim=claim), "png", tight=True)
    folder = export.write_folder(folder or export.default_out_dir(f"{sc.name}-sweep"), files)
    click.echo(f"{render.scenario_label(sc)}: seed {seed}, {draws:,} draws at each of "
               f"{len(result.points)} points, {result.wall_seconds:.2f} s "
               f"({result.cpu_seconds:.2f} s CPU)")
    click.echo()
    click.echo(render.sweep_text(result, render.terminal_width()))
    click.echo(f"\nwrote {folder}/{', '.join(files)}")


@cli.command()
@click.argument("scenario", required=False)
@click.option("--claim", required=True, help="the claim to put at the target")
@click.option("--vary", "inputs", multiple=True, required=True, metavar="INPUT",
              help="the input to solve for (repeatable: each on its own, a break-even table)")
@click.option("--percentile", type=float, default=None,
              help="the percentile of its output the claim should sit at  [default: 50]")
@click.option("--exceed", type=float, default=None,
              help="instead: the probability that the truth exceeds the claim, e.g. 0.5")
@click.option("--range", "bracket", default=None, metavar="LO:HI",
              help="search only here (default: the prior's range, widened until the claim "
                   "crosses the target)")
@click.option("--scale", "scale", is_flag=True,
              help="solve for a factor on the input's prior (uncertainty kept), not a value")
@click.option("--draws", "-n", type=_Count(), default="1M", show_default=True,
              help="draws per simulation")
@_seed("random seed of every simulation (printed when not given)")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="write the break-even table here")
@_threads()
@_repair
@_no_evidence
@_cluster
def solve(scenario, claim, inputs, percentile, exceed, bracket, scale, draws, seed, csv_path,
          threads, repair_correlations, no_evidence, scheduler, dask) -> None:
    """Find the value of an input at which a claim of SCENARIO sits at a percentile of its
    output (default: the median), on common-random-number simulations."""
    from pathlib import Path

    from . import engine, export, render
    from . import sweep as sw
    from .executors import from_options
    from .scenario import load_scenario

    sc = load_scenario(scenario, repair=repair_correlations, evidence=not no_evidence)
    if csv_path:
        export.check_out_dir(Path(csv_path).parent, "--csv")
    seed = engine.new_seed() if seed is None else seed
    with from_options(scheduler, dask) as executor:
        result = sw.solve(sc, claim, inputs, percentile=percentile, exceed=exceed,
                          how="scale" if scale else "set",
                          bracket=sw.parse_range(bracket) if bracket else None, draws=draws,
                          seed=seed, threads=threads, executor=executor)
    claimed = sc.output(result.output)
    click.echo(f"{render.scenario_label(sc)}: seed {seed}; {result.claim} "
               f"({result.output} = {result.claimed:g} {claimed.unit}) at {result.goal}:")
    for line in result.lines():
        click.echo(f"  {line}")
    if csv_path:
        click.echo(f"wrote {export.write_csv(result.to_frame(), csv_path)}")


@cli.command("scenarios")
def list_scenarios() -> None:
    """List the built-in scenarios."""
    from .scenario import builtin_scenarios

    for name, path in builtin_scenarios().items():
        click.echo(f"{name}\t{path}")


class _progress_bar:
    """A tqdm bar on stderr after a second's work; nothing when quiet or not a terminal."""

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet = total, quiet
        self.bar: Any = None  # a tqdm bar once entered

    def __enter__(self):
        if self.quiet or not sys.stderr.isatty():
            return None
        from tqdm import tqdm

        self.bar = tqdm(total=self.total, unit=" draws", unit_scale=True, delay=1.0,
                        file=sys.stderr, leave=False)
        return self._update

    def _update(self, done: int, total: int) -> None:
        if total != self.bar.total:  # a command may report several passes as one total
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with exit code 2, no tracebacks; Ctrl-C exits 130, SIGTERM
    143 and SIGHUP 129, after the cleanup of temporary files, saying what was written."""
    from . import export

    if hasattr(signal, "SIGPIPE"):  # `mcsim run | head` ends quietly, as Unix tools do
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    before = len(export.written())
    handlers = _raise_on_termination()
    try:
        cli.main(args=argv, prog_name="mcsim", standalone_mode=False)
    except McsimError as err:
        click.echo(f"mcsim: error: {err}", err=True)
        sys.exit(2)
    except click.exceptions.NoArgsIsHelpError as err:  # pragma: no cover - click >= 8.2
        click.echo(err.format_message(), err=True)
        sys.exit(2)
    except click.ClickException as err:
        click.echo(f"mcsim: error: {err.format_message()}", err=True)
        sys.exit(err.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo(_stopped("interrupted", export.written()[before:]), err=True)
        sys.exit(130)
    except _Terminated as stop:
        click.echo(_stopped(stop.name, export.written()[before:]), err=True)
        sys.exit(128 + stop.signum)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


class _Terminated(BaseException):
    """SIGTERM or SIGHUP, raised in the main thread so that cleanup code runs as for Ctrl-C
    (a BaseException: no ``except Exception`` swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.name = "terminated" if signum == signal.SIGTERM else "hung up"


def _raise_on_termination() -> dict:
    """Make SIGTERM and SIGHUP raise ``_Terminated``; return the handlers they had."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def terminate(signum, frame):
        raise _Terminated(signum)

    signals = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    return {s: signal.signal(s, terminate) for s in signals}


def _stopped(how: str, written: tuple) -> str:
    """The one line that says a command was stopped, and truthfully what it wrote before."""
    if not written:
        return f"mcsim: {how}; no results written"
    return f"mcsim: {how} after writing {', '.join(str(p) for p in written)}"


def console() -> None:
    """The ``mcsim`` command: ``main``, then leave without the interpreter's teardown.

    Unloading numba, scipy and pandas module by module takes about 0.15 s after every run;
    by this point every file is written and closed (atomically renamed), so only the
    standard streams need flushing.
    """
    try:
        main()
        code = 0
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            code = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
