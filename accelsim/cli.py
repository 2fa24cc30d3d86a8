"""The ``accelsim`` command: ``run``, ``serve``, ``info``, ``list`` and ``plot`` (see ``accelsim COMMAND --help``).

The CLI only wires the stages together. An :class:`~accelsim.errors.AccelsimError` becomes its one-line message
(one line per problem) on stderr and exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import AccelsimError, ConfigError, ConfigIssue, WorkloadError
from .units import TORCH_DTYPES

if TYPE_CHECKING:
    from .ir import Graph
    from .report.lock import FolderLock

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
INFO_DEFAULT_DTYPE = TORCH_DTYPES["bfloat16"]
"""`info`'s dtype where neither the workload, --arch nor the model's config names one: the dtype `run` gives such a
workload on every GPU preset (a100, h100, h200, b200, l40s, mi210, mi300x: each arch's ``dtype``)."""
PIPE_WIDTH = 100_000  # columns of stdout when it is not a terminal: no table is cut or wrapped


def _stdout_console():
    """The rich console for stdout: a terminal's own width; anything else (a pipe, a file) gets
    :data:`PIPE_WIDTH` columns, so long op names and numbers come out whole instead of cut to rich's 80."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=PIPE_WIDTH)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="accelsim", description="Simulate deep-learning workloads on accelerators.")
    p.add_argument("--version", action="version", version=f"accelsim {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    r = sub.add_parser("run", help="simulate an experiment and write its report folder",
                       description="Simulate an experiment (a YAML file), a workload on an arch, or a SCALE-Sim "
                                   "config and topology; print a summary and write report.json, ops.csv, report.html and plots.")
    r.add_argument("experiment", nargs="?", help="experiment YAML (a path or a name from 'accelsim list experiments')")
    r.add_argument("--workload", "-w", help="workload preset name or YAML path (instead of an experiment)")
    r.add_argument("--arch", "-a", help="arch preset name or YAML path (with --workload)")
    r.add_argument("--batch", type=int, help="batch size (with --workload)")
    r.add_argument("--mode", choices=["inference", "training"], help="inference or training (with --workload)")
    r.add_argument("--scalesim-config", metavar="FILE.cfg", help="a SCALE-Sim config file (with --topology)")
    r.add_argument("--topology", metavar="FILE.csv", help="a SCALE-Sim topology CSV (conv or GEMM form)")
    r.add_argument("-o", "--output", metavar="OUTDIR", help="report folder (default: the experiment's 'output', "
                                                          "else runs/NAME)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value, e.g. arch.core.systolic.rows=128 or workload.batch=8 (repeatable)")
    r.add_argument("--no-plots", action="store_true",
                   help="skip the PNG plots (report.json, ops.csv and report.html are still written)")
    r.add_argument("--trace", action="store_true", help="also write trace.json (Chrome/Perfetto trace events)")
    r.add_argument("--quiet", "-q", action="store_true", help="print only the report folder")

    sw = sub.add_parser("sweep", help="run a design-space sweep (resumable; local processes or Dask)",
                        description="Expand a sweep file's grid/zip axes over a base experiment, check its first "
                                    "points and every axis value before anything runs, plan and run the rest as "
                                    "a stream, append each result to OUTDIR/results.jsonl as it finishes, "
                                    "then write results.csv and plots. Re-running into the same OUTDIR skips "
                                    "finished points. Exit 0 when every point is ok, 1 when some failed. "
                                    "See docs/sweeps.md.")
    sw.add_argument("sweep", help="sweep YAML (a path or a name from 'accelsim list sweeps')")
    sw.add_argument("-o", "--output", metavar="OUTDIR", help="sweep folder (default: the file's 'output', else "
                                                           "runs/NAME)")
    sw.add_argument("--executor", choices=["local", "dask"], default="local",
                    help="local process pool (default) or a Dask cluster (pip install 'accelsim[dask]')")
    sw.add_argument("--workers", type=int, metavar="N", help="worker processes (default: the CPU count)")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (default: a LocalCluster)")
    sw.add_argument("--quiet", "-q", action="store_true",
                    help="print only the sweep folder (no progress bar; on stderr a summary when points failed)")
    sw.add_argument("--point", metavar="ID", help="run one point of the sweep (its id in results.csv, e.g. a "
                                                 "pareto one) as 'accelsim run' does: its full report folder in "
                                                 "OUTDIR/point_ID, for 'accelsim compare'")
    sw.add_argument("--no-plots", action="store_true",
                    help="skip the PNG plots: the sweep's (results.csv is still written; an earlier run's plots are "
                         "removed), or with --point the report's")

    sv = sub.add_parser("serve", help="simulate an LLM server under load (requests, batching, KV cache)",
                        description="Simulate LLM serving: requests arrive, each replica's engine batches prefills "
                                    "and decodes every iteration over a paged KV cache, iterations are priced by "
                                    "the accelerator model; write report.json, requests.csv and timeseries.csv. "
                                    "See docs/serving.md.")
    sv.add_argument("serving", help="serving YAML (a path or a name from 'accelsim list serving')")
    sv.add_argument("-o", "--output", metavar="OUTDIR", help="report folder (default: the file's 'output', else "
                                                           "runs/NAME; with --sweep, --capacity or both: that "
                                                           "name + _sweep, _capacity or _capacity_sweep)")
    sv.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a value, e.g. workload.arrival.rate=4 or engine.max_num_seqs=64 (repeatable)")
    sv.add_argument("--trace", action="store_true", help="also write trace.json (Perfetto: a track per replica, "
                                                         "a span per request)")
    sv.add_argument("--no-plots", action="store_true", help="no latency_cdf.png / serving_timeseries.png")
    sv.add_argument("--sweep", action="append", metavar="KEY=V1,V2,...",
                    help="run once per value (e.g. workload.arrival.rate=2,4,8): point_<i>/ folders, sweep.csv, "
                         "throughput_latency.png; given for several keys, once per combination of their values "
                         "(with --capacity: one key)")
    sv.add_argument("--capacity", nargs="?", type=float, const=0.9, metavar="GOAL",
                    help="search the highest workload.arrival.rate at which GOAL (default 0.9) of the requests meet "
                         "the file's SLOs: capacity.csv and best/ (docs/serving.md, Capacity)")
    sv.add_argument("--quiet", "-q", action="store_true", help="print only the report folder")

    i = sub.add_parser("info", help="print a workload's params, MACs, FLOPs, bytes and per-op table (or an arch's "
                                    "units, peaks and memory levels)",
                       description="Describe a workload without simulating it: its parameters, MACs, FLOPs, "
                                   "params, bytes and one row per op (--mode training: a training step's; --arch: "
                                   "priced in that arch's dtype); or, given an arch, its cores, units, peak rates, "
                                   "memory levels and energy and area constants. --json prints it as JSON. An "
                                   "experiment, serving or sweep file is refused: give its workload or arch.")
    i.add_argument("workload", nargs="?", help="workload preset name or YAML path; or an arch preset name or arch "
                                                "YAML")
    i.add_argument("--workload", "-w", dest="workload_flag", metavar="WORKLOAD",
                   help="the workload, as run's -w names it (instead of the positional name)")
    i.add_argument("--batch", type=int, help="batch size (as run's --batch; default: the workload's)")
    i.add_argument("--mode", choices=["inference", "training"],
                   help="inference or training: a training step's ops, MACs and bytes (default: the workload's)")
    i.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="workload.KEY=VALUE for a workload, arch.KEY=VALUE for an arch (repeatable)")
    i.add_argument("--arch", "-a", help="price the workload in this arch's dtype, as `run` on it does (default: "
                                        "workload.dtype, else the model config's torch_dtype, else bf16)")
    i.add_argument("--json", action="store_true", help="print JSON (totals and per-op rows)")

    ls = sub.add_parser("list", help="list presets (and the Hugging Face architectures the hf builder reads)",
                        description="Print the presets each command takes (workloads, each with a one-line "
                                    "description, and archs for 'run -w/-a' and 'info', experiments for 'run', sweeps for 'sweep', serving "
                                    "files for 'serve'; with ACCELSIM_PRESET_PATH, its folders' too), one a line, "
                                    "or with 'hf' the config.json architectures the hf workload builds.")
    ls.add_argument("kind", nargs="?", choices=["workloads", "arch", "experiments", "sweeps", "serving", "hf"],
                    help="which presets, or 'hf': the config.json architectures of the hf workload (default: all)")

    pl = sub.add_parser("plot", help="(re)draw the plots of a report or sweep folder",
                        description="Redraw a folder's plots from the files in it, without simulating again: a "
                                    "run's PNGs and report.html, a serve run's latency and timeseries plots, a "
                                    "'serve --sweep' or '--capacity' folder's curve, a sweep's plots (and "
                                    "results.csv). Print the paths written. A folder two commands wrote into is "
                                    "refused.")
    pl.add_argument("outdir", help="a folder written by 'accelsim run', 'accelsim sweep' or 'accelsim serve' (or "
                                   "its report.json)")

    cp = sub.add_parser("compare", help="key metrics of several report folders side by side, with ratios",
                        description="Print total cycles, time, MACs, utilization, stalls and bytes per level of "
                                    "each report, with its ratio to the baseline (the first, or --baseline I).")
    cp.add_argument("outdirs", nargs="+", metavar="OUTDIR", help="report folders (or report.json files)")
    cp.add_argument("--baseline", type=int, default=0, help="index of the report the ratios are taken against")
    cp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


COMMANDS = ("run", "sweep", "serve", "info", "list", "plot", "compare")


def _unknown_command(argv: Sequence[str]) -> str | None:
    """The one-line error of a mistyped command that is close to one ("rn": did you mean 'run'?); None otherwise
    (argparse then says what is wrong)."""
    import difflib

    given = next((a for a in argv if not a.startswith("-")), None)
    if given is None or given in COMMANDS:
        return None
    close = difflib.get_close_matches(given, COMMANDS, n=1)
    if not close:
        return None
    return f"accelsim: error: unknown command {given!r}; did you mean {close[0]!r}? (commands: {', '.join(COMMANDS)})"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``accelsim`` command; returns the exit status."""
    restore = _sweep_sigterm(list(sys.argv[1:] if argv is None else argv))
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (_sweep_sigterm), before the command's own handling began
        print("accelsim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        restore()


_SIGTERM_AS_CTRL_C = ("sweep", "serve", "run")  # the commands that write a folder


def _sweep_sigterm(words: Sequence[str]):
    """For ``accelsim sweep``, ``serve`` and ``run``, SIGTERM (what ``timeout`` and batch schedulers send) is Ctrl-C
    (KeyboardInterrupt, exit 130, as docs/sweeps.md promises) from the command's entry, not only once the sweep is
    loaded (probe p75 #4: importing the sweep machinery takes about a second, in which a kill exited 143): a ``serve
    --sweep`` keeps the points that finished and writes their sweep.csv, and each frees its folder's lock (probe
    p241 #1: serve and run died at once, exit 143, leaving the lock and no sweep.csv). Returns the function that
    puts the previous handler back."""
    import signal
    import threading

    command = next((w for w in words if not w.startswith("-")), None)
    if command not in _SIGTERM_AS_CTRL_C or threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _unrepeated(text: str, given: str) -> str:
    """An error's ``KEY: MESSAGE`` labelled with ``given``, a file named on the command line, without the message's
    own leading ``FILE: `` where that names the same file: an ONNX model's errors begin with its path, and ``info
    -w X.onnx`` printed ``X.onnx: workload.dims: X.onnx: ...`` (probe p96 #6)."""
    key, sep, message = text.partition(": ")
    head, sep2, rest = message.partition(": ")
    if not (sep and sep2) or not Path(given).is_file():
        return text
    try:
        same = Path(head).is_file() and Path(head).samefile(given)
    except OSError:
        return text
    return f"{key}: {rest}" if same else text


def _main(argv: Sequence[str] | None) -> int:
    typo = _unknown_command(sys.argv[1:] if argv is None else argv)
    if typo is not None:
        print(typo, file=sys.stderr)
        return EXIT_BAD_INPUT
    args = _parse(_parser(), argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the words given, for a command line to suggest
    try:
        if getattr(args, "output", None) is not None and not args.output.strip():  # not the default, silently
            raise _usage_error(f"{args.command}: -o: an empty folder name; give a folder, or leave -o out for the "
                               f"default (the file's 'output', else runs/NAME)")
        if getattr(args, "output", None) is not None:  # named as -o, as the empty name is (probe p132 #6)
            _output_folder(args.command, args.output)
        commands = {"run": _cmd_run, "serve": _cmd_serve, "sweep": _cmd_sweep, "info": _cmd_info, "list": _cmd_list,
                    "plot": _cmd_plot, "compare": _cmd_compare}
        try:
            return commands[args.command](args)
        finally:
            _release_folders()
    except AccelsimError as e:
        if args.debug:
            raise
        # a name given on the command line has no file: it labels the line, not "<input>"
        given = getattr(args, {"run": "experiment", "serve": "serving", "info": "workload", "sweep": "sweep"}
                        .get(args.command, ""), None)
        for line in str(e).splitlines() or ["error"]:
            if given and line.startswith("<input>: "):
                line = f"{given}: {_unrepeated(line[len('<input>: '):], given)}"
            print(f"accelsim: error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as e:  # a save's (report.result.SaveInterrupted) names the folder it left incomplete
        print(f"accelsim: interrupted{f': {e}' if str(e) else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and closed: not an error of ours
        sys.stderr.close()
        return 0
    except OSError as e:  # a folder that cannot be written, a disk that is full: the user's to fix
        if args.debug:
            raise
        where = f" {e.filename}" if e.filename else ""
        print(f"accelsim: error: cannot write or read{where}: {e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # a bug: keep the one-line promise, offer the traceback
        if args.debug:
            raise
        print(f"accelsim: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, but words no option takes are refused with the usage of the command they were
    given to (``accelsim info x -q``: "usage: accelsim info [-h] ..."), not the top-level one, which names no
    command's options (probe p94 #6). Exit status 2, as argparse's own errors."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        words = list(sys.argv[1:] if argv is None else argv)
        before = args.command in words and extra[0] in words and words.index(extra[0]) < words.index(args.command)
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        command = parser if before else subparsers.choices.get(args.command, parser)  # `accelsim --foo run`: ours
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _usage_error(msg: str) -> AccelsimError:
    return AccelsimError(msg)


def _output_folder(command: str, output: str) -> None:
    """Refuse ``-o OUTPUT`` at once when it cannot be a folder: a file (Report.save said ``<input>: outdir: ...``),
    or a path the system refuses (a name too long: the folder check named sweep.json, a file ``run`` never writes)."""
    try:
        if os.path.lexists(output) and not os.path.isdir(output):
            raise _usage_error(f"{command}: -o: {output} is a file, not a folder")
        os.stat(output)
    except FileNotFoundError:
        return  # made when written
    except OSError as e:
        raise _usage_error(f"{command}: -o: {output}: cannot use it as a folder: {e.strerror or e}") from None


def _words_after(args: argparse.Namespace, drop: str) -> list[str]:
    """The words the user gave after the command's name, less the first that is ``drop`` (the file given where
    another goes): the options a suggested command line keeps (``--batch 2``, ``--set k=v``, ``-o D``)."""
    words = list(getattr(args, "argv", []))
    words = words[words.index(args.command) + 1:] if args.command in words else words
    if drop in words:
        words.remove(drop)
    return words


def _shell_words(words: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(w) for w in words)


def _no_such_model_file(path: str) -> None:
    """A model file (``*.onnx``) given where a command reads another kind of file: "no such file" where it is not
    there, before any advice on where a model goes."""
    import os

    if path.lower().endswith(".onnx") and not os.path.exists(path):
        raise _usage_error(f"{path}: no such file")


def _onnx_given(args: argparse.Namespace, path: str) -> None:
    """``accelsim serve X.onnx`` / ``accelsim sweep X.onnx``: an ONNX model where the command's own YAML goes, one
    line saying what that command takes instead (neither has ``--workload``); nothing for any other file."""
    if not path.lower().endswith(".onnx"):
        return
    _no_such_model_file(path)
    run = f"accelsim run {_shell_words(['-w', path, '-a', 'ARCH'])}"
    if args.command == "serve":
        raise _usage_error(f"serve: {path} is an ONNX model, which serve cannot take: serve takes a serving YAML (an "
                           f"LLM model preset, an arch and a request workload; see accelsim list serving and "
                           f"docs/serving.md); to simulate the ONNX model use {run}")
    raise _usage_error(f"sweep: {path} is an ONNX model, not a sweep file: name it in a sweep file's base "
                       f"(base: {{workload: {path}, arch: ARCH}}, then grid: or zip: axes; see docs/sweeps.md) and "
                       f"give that file to accelsim sweep; to simulate it once use {run}")


def _load_spec(args: argparse.Namespace):
    from . import config
    from .config.presets import import_form

    if args.experiment and import_form(args.experiment) is not None:  # a model, before any file is read as YAML
        _no_such_model_file(args.experiment)
        rest = _words_after(args, args.experiment)
        arch = [] if args.arch else ["-a", "ARCH"]
        raise _usage_error(f"{args.experiment} is a model, not an experiment: use accelsim run "
                           f"{_shell_words(['-w', args.experiment, *arch, *rest])}")
    forms = [bool(args.experiment), bool(args.workload or args.arch), bool(args.scalesim_config or args.topology)]
    if sum(forms) != 1:
        raise _usage_error("run: give one of EXPERIMENT, --workload W --arch A, or --scalesim-config F --topology T")
    if args.experiment:
        given = {"batch": args.batch, "mode": args.mode}
        given = {key: value for key, value in given.items() if value is not None}
        if given:  # the remedy for the flags given (probe p118 #3: --mode was told to set workload.batch)
            flags = "/".join(f"--{key}" for key in given)
            sets = " ".join(f"--set workload.{key}={value}" for key, value in given.items())
            raise _usage_error(f"run: {flags} go{'es' if len(given) == 1 else ''} with --workload; with an "
                               f"experiment use {sets}")
        return config.load_experiment(args.experiment, args.overrides)
    if args.workload or args.arch:
        if not (args.workload and args.arch):
            raise _usage_error("run: --workload and --arch go together")
        return config.experiment_from_parts(args.workload, args.arch, batch=args.batch, mode=args.mode,
                                            overrides=args.overrides)
    if not (args.scalesim_config and args.topology):
        raise _usage_error("run: --scalesim-config and --topology go together")
    given = [flag for flag, value in (("--set", args.overrides), ("--batch", args.batch), ("--mode", args.mode))
             if value]
    if given:  # the SCALE-Sim files are the whole input: a setting here would be silently ignored
        raise _usage_error(f"run: {' and '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to "
                           f"--scalesim-config / --topology (edit the .cfg and .csv files, as SCALE-Sim reads them)")
    return None


def _cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from . import api
    from .options import Options

    err = Console(stderr=True)
    t0 = time.perf_counter()
    spec = _load_spec(args)
    with _Progress(err, enabled=not args.quiet) as progress:
        if spec is None:
            from .config.scalesim import load_scalesim

            arch, graph = load_scalesim(args.scalesim_config, args.topology)
            name = graph.name
            options = Options(activations_on_chip=False, plots=not args.no_plots, trace=args.trace)
            outdir = _claimed(args.output or f"runs/{name}", "accelsim run", name)  # before the run, which it would lose
            report = api.run(graph, arch, options, name=name, progress=progress)
        else:
            if args.trace and not spec.options.trace:  # scenarios keep their passes' tasks only for a trace
                spec = dataclasses.replace(spec, options=spec.options.model_copy(update={"trace": True}))
            outdir = _claimed(args.output or spec.output or f"runs/{spec.name}", "accelsim run", spec.name)
            report = api.run_experiment(spec, progress=progress)
            options = spec.options
        progress("writing report", 0, 1)
        plots = options.plots and not args.no_plots
        report.save(outdir, plots=plots, trace=args.trace or options.trace)
    return _print_run(report, outdir, plots, args.trace or options.trace, args.quiet, t0)


def _print_run(report, outdir: Path, plots: bool, trace: bool, quiet: bool, t0: float) -> int:
    """What ``accelsim run`` prints after writing ``report`` to ``outdir``: the folder alone with ``quiet``, else
    the summary, the simulation's size and wall time since ``t0``, and the files written."""
    from .report import live_dict
    from .report.console import print_summary

    wall = time.perf_counter() - t0
    if quiet:
        print(outdir)
        return 0
    out = _stdout_console()
    print_summary(live_dict(report), out)
    sim = live_dict(report)["simulation"]
    out.print(f"[dim]{sim['tasks']:,} tasks, {sim['events']:,} events in {wall:.2f} s wall[/dim]")
    out.print(f"Report written to [bold]{outdir}[/bold]/ (report.json, ops.csv, report.html"
              f"{', trace.json' if trace else ''}{', *.png' if plots else ''})")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from . import api
    from .serving.metrics import model_title, summary_rows

    err = Console(stderr=True)
    t0 = time.perf_counter()
    _onnx_given(args, args.serving)
    args.sweep = _sweep_items(args.sweep, capacity=args.capacity is not None)
    if args.trace and (args.capacity is not None or args.sweep):
        raise _usage_error(f"serve: --trace writes one run's trace.json, not with --"
                           f"{'capacity' if args.capacity is not None else 'sweep'} (run the rate you want to "
                           f"trace on its own)")
    if args.capacity is not None:
        return _serve_capacity(args, err, t0)
    if args.sweep:
        return _serve_sweep(args, err, t0)
    with _Progress(err, enabled=not args.quiet) as progress:
        spec = api.load_serving(args.serving, args.overrides)
        # the folder claimed and locked before the run, which it would lose (probe p132 #1)
        outdir = _claimed(args.output or spec.output or f"runs/{spec.name}", "accelsim serve", spec.name)
        result = api.serve(spec, progress=progress)
        result.save(outdir, trace=args.trace, plots=not args.no_plots)
    if args.quiet:
        print(outdir)
        return 0
    out = _stdout_console()
    table = Table(title=f"{result.report['name']}: {model_title(result.report)}",
                  show_header=False)
    for key, value in summary_rows(result.report):
        table.add_row(key, value)
    out.print(table)
    out.print(f"[dim]{time.perf_counter() - t0:.2f} s wall[/dim]")
    out.print(f"Report written to [bold]{outdir}[/bold]/ (report.json, requests.csv, timeseries.csv, report.html"
              f"{', trace.json' if args.trace else ''}{', *.png' if not args.no_plots else ''})")
    return 0


def _form_folder(output: str | None, name: str, form: str) -> Path:
    """The default folder of ``serve --sweep`` (``form`` "sweep"), ``--capacity`` ("capacity") or both
    ("capacity_sweep"): the one run's default (the file's ``output``, else runs/NAME) with ``_FORM`` added to its
    last part, a folder beside it (``runs/NAME_sweep``). Each form has its own, as :func:`_claimed` refuses a folder
    another command wrote: the guide's ``serve`` then ``serve --sweep`` with defaults shared one folder and the second
    failed (probe p142 #1). A folder with no last part (``.``, ``/``) gets ``FORM/`` inside it."""
    base = Path(output or f"runs/{name}")
    return base.with_name(f"{base.name}_{form}") if base.name and base.name != ".." else base / form


_HELD: dict[str, tuple[FolderLock, bool]] = {}  # the folders this command holds: absolute path -> (lock, made by it)


def _claimed(outdir: str | Path, command: str, name: str | None = None, shown: str | None = None) -> Path:
    """``outdir`` as a Path, once :func:`~accelsim.report.writers.claim_folder` found it holds no other command's
    outputs (probe p118 #2), and locked (:class:`~accelsim.report.lock.FolderLock`) until the command ends, so a
    second accelsim writing into it is refused at once, not after its run (probe p132 #1). ``name`` (the run's, else
    the folder's) tells that second writer whose it is. A folder already claimed by this command is given back as
    it is: a ``serve --sweep`` claims its folder before its points and again as each is saved. ``shown``: the
    command a refusal names, where it is not ``command`` (``sweep --point`` writes a run's report folder)."""
    from .report.lock import FolderLock
    from .report.writers import claim_folder

    key = os.path.abspath(outdir)
    if key in _HELD:
        return Path(outdir)
    claim_folder(outdir, command, shown=shown)
    made = not os.path.lexists(outdir)
    lock = FolderLock(outdir, name or Path(key).name, command=command.split()[1])
    lock.__enter__()
    _HELD[key] = (lock, made)
    return Path(outdir)


def _release_folders() -> None:
    """Free the folders :func:`_claimed` locked; one it made and left empty (a run that failed) is removed."""
    while _HELD:
        key, (lock, made) = _HELD.popitem()
        lock.__exit__(None, None, None)
        if made:
            with contextlib.suppress(OSError):  # not empty: it holds what the command wrote
                os.rmdir(key)


def _sweep_items(items: list[str] | None, *, capacity: bool) -> list[str]:
    """The ``--sweep`` items of a serve run, one a key (their product is swept): a key given twice is an error
    (crossed with itself, or the last kept, its other values would be lost silently); a capacity search sweeps one
    key (its capacity_sweep.csv has a row a value)."""
    items = items or []
    keys = [item.partition("=")[0].strip() for item in items]
    twice = next((k for k in keys if keys.count(k) > 1), None)
    if twice is not None:
        raise _usage_error(f"--sweep: {twice}: given {keys.count(twice)} times; give it once with all its values "
                           f"(KEY=V1,V2,...)")
    if capacity and len(keys) > 1:
        named = ", ".join(keys[:-1]) + f" and {keys[-1]}"
        raise _usage_error(f"--capacity --sweep: one key a search; got {named} (sweep one, --set the others; "
                           f"without --capacity, --sweep crosses several keys)")
    return items


def _serve_capacity(args: argparse.Namespace, err, t0: float) -> int:
    from rich.table import Table

    from .serving.capacity import COLUMNS, SWEEP_COLUMNS, capacity, capacity_sweep, rows, save, save_sweep
    from .serving.capacity import title as capacity_title
    from .serving.curve import duplicates_line, parse_sweep, spec_name, unique_points

    command = "accelsim serve --capacity" + (" --sweep" if args.sweep else "")
    if args.output:
        _claimed(args.output, command)  # before the searches, which it would lose
    if args.sweep:  # the capacity at every value of a key
        key, given = parse_sweep(args.sweep[0])
        values, duplicates = unique_points(args.serving, key, given, args.overrides)  # a repeat searched once
        if duplicates and not args.quiet:
            err.print(duplicates_line(len(values), len(given), duplicates), soft_wrap=True, markup=False,
                      highlight=False)
        with _Progress(err, enabled=not args.quiet) as progress:
            found, spec = capacity_sweep(args.serving, key, values, args.overrides, args.capacity, progress=progress)
            outdir = _claimed(args.output or _form_folder(spec.output, spec.name, "capacity_sweep"), command)
            save_sweep(outdir, key, values, found, plots=not args.no_plots)
        if args.quiet:
            print(outdir)
            return 0
        table = Table(title=capacity_title(spec_name(spec), args.capacity, key, values))
        for col in SWEEP_COLUMNS:
            table.add_column(col, justify="right")
        for value, (best, probes) in zip(values, found, strict=True):
            table.add_row(value, "none" if best is None else f"{best:.4g}", str(len(probes)))
        out = _stdout_console()
        out.print(table)
        out.print(f"[dim]{time.perf_counter() - t0:.2f} s wall[/dim]")
        out.print(f"Written to [bold]{outdir}[/bold]/ (capacity_sweep.csv, point_*/)")
        return 0
    with _Progress(err, enabled=not args.quiet) as progress:
        best, probes, spec = capacity(args.serving, args.overrides, args.capacity, progress=progress)
        outdir = _claimed(args.output or _form_folder(spec.output, spec.name, "capacity"), command)
        save(outdir, best, probes, plots=not args.no_plots)
    if args.quiet:
        print(outdir)
        return 0
    table = Table(title=capacity_title(spec_name(spec), args.capacity))
    shown = ("rate", "requests_per_s", "served_share", "goodput_fraction", "ttft_p99_s", "tpot_p99_s", "saturated",
             "passes")
    for col in shown:
        table.add_column(_serve_header(col), justify="right")
    for row in rows(probes):
        cells = dict(zip(COLUMNS, row, strict=True))
        table.add_row(*(_serve_cell(c, cells[c]) for c in shown))
    out = _stdout_console()
    out.print(table)
    unit = "conversations/s" if spec.serve.workload.conversation is not None else "requests/s"  # what the rate counts
    found = f"{best:.4g} {unit}" if best is not None else "none: no rate tried kept the goal"
    if best is not None and all(p.passes for p in probes):  # the doublings ran out before a rate failed
        found = f"at least {found} (every rate tried kept the goal: a lower bound)"
    out.print(f"capacity: {found} ({len(probes)} runs, {time.perf_counter() - t0:.2f} s wall)")
    out.print(f"Written to [bold]{outdir}[/bold]/ (capacity.csv{', best/' if best is not None else ''})")
    return 0


def _serve_sweep(args: argparse.Namespace, err, t0: float) -> int:
    from rich.table import Table

    from .serving.curve import (
        curve_columns,
        curve_name,
        curve_rows,
        duplicates_line,
        finished_point,
        parse_sweeps,
        save_curve,
        save_point,
        sweep,
        unique_points,
        write_curve_csv,
    )

    keys, points = parse_sweeps(args.sweep)
    key = keys[0] if len(keys) == 1 else keys
    values, duplicates = unique_points(args.serving, key, [p[0] for p in points] if len(keys) == 1 else points,
                                       args.overrides)  # a repeated point runs once, as in 'accelsim sweep'
    if duplicates and not args.quiet:
        err.print(duplicates_line(len(values), len(points), duplicates), soft_wrap=True, markup=False,
                  highlight=False)
    kept: list = []  # the points finished and saved, or reused, in order
    reused: list[int] = []  # the points an earlier run of this sweep finished (probe p241 #2)
    specs: dict[int, object] = {}  # each point's spec, as reuse() is asked for it before it runs

    def folder(result) -> Path:
        return _claimed(args.output or _form_folder(result.output, result.report["name"], "sweep"),
                        "accelsim serve --sweep")

    if args.output:
        _claimed(args.output, "accelsim serve --sweep")  # before the points, which it would lose

    def reuse(i: int, spec):  # a point an earlier run of the same sweep finished, its inputs recorded the same
        specs[i] = spec
        outdir = _claimed(args.output or _form_folder(spec.output, spec.name, "sweep"), "accelsim serve --sweep")
        done = finished_point(outdir, i, spec, plots=not args.no_plots)
        if done is not None:
            reused.append(i)
            kept.append(done)
            write_curve_csv(outdir, key, values, kept)
        return done

    def keep(i: int, result) -> None:  # each point saved whole as it finishes (a point stopped mid-save is removed)
        outdir = folder(result)
        save_point(outdir, i, result, plots=not args.no_plots, spec=specs.get(i))
        kept.append(result)
        write_curve_csv(outdir, key, values, kept)  # so that a SIGKILL leaves a sweep.csv (probe p241 #1)

    with _Progress(err, enabled=not args.quiet) as progress:
        try:
            results = sweep(args.serving, key, values, args.overrides, progress=progress, on_point=keep,
                            reuse=reuse)
        except BaseException:  # Ctrl-C, or a point that failed: the curve of the points that finished
            _keep_curve(err, key, values, kept, folder, plots=not args.no_plots)
            raise
        name = curve_name(results[0].report)  # the model on the arch: the file's name may carry one value
        outdir = folder(results[0])
        save_curve(outdir, key, values, results, name=name, plots=not args.no_plots, points=False)
    if reused and not args.quiet:  # as 'accelsim sweep' says "33 already done"
        err.print(f"{len(reused)} already done in {outdir}/ (point_{', point_'.join(map(str, reused))}: "
                  f"the same inputs, run by this accelsim), not run again; ran {len(values) - len(reused)}",
                  soft_wrap=True, markup=False, highlight=False)
    if args.quiet:
        print(outdir)
        return 0
    ran = [(v,) for v in values] if len(keys) == 1 else values  # the points run, duplicates dropped
    parsed = [(k, list(dict.fromkeys(p[i] for p in ran))) for i, k in enumerate(keys)]  # each key's values
    table = Table(title=f"{name}: " + " × ".join(f"{k} = {', '.join(vs)}" for k, vs in parsed))
    shown = (*(("value",) if len(keys) == 1 else keys), "requests_per_s", "output_tokens_per_s", "ttft_p50_s",
             "ttft_p99_s", "tpot_p50_s", "e2e_p99_s", "saturated")
    columns = curve_columns(key)
    for col in shown:
        table.add_column(_serve_header(col), justify="right")
    for row in curve_rows(values, results):
        cells = dict(zip(columns, row, strict=True))
        table.add_row(*(_serve_cell(c, cells[c]) for c in shown))
    out = _stdout_console()
    out.print(table)
    out.print(f"[dim]{time.perf_counter() - t0:.2f} s wall[/dim]")
    out.print(f"Sweep written to [bold]{outdir}[/bold]/ (point_*/, sweep.csv"
              f"{', throughput_latency.png' if not args.no_plots else ''})")
    return 0


def _is_seconds(col: str) -> bool:
    return col.endswith("_s") and not col.endswith("_per_s")


def _serve_header(col: str) -> str:
    """A --sweep / --capacity table's header: a CSV column in seconds shown in ms ("ttft_p99 ms"), as the serve
    summary shows latencies."""
    return f"{col[:-2]} ms" if _is_seconds(col) else col


def _serve_cell(col: str, value: object) -> str:
    """A --sweep / --capacity table's cell as the serve summary writes it: latencies in ms, shares in %, rates
    with two decimals, yes/no (sweep.csv and capacity.csv keep seconds, fractions and True/False)."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if _is_seconds(col):
            return f"{value * 1e3:,.1f}"
        if col.endswith(("_fraction", "_share")):
            return f"{value:.1%}"
        if col.endswith("_per_s"):
            return f"{value:,.2f}"
        return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"
    return str(value)


def _keep_curve(err, key, values: list, kept: list, folder, *, plots: bool) -> None:
    """A ``serve --sweep`` stopped before its last point: sweep.csv (and the curve) of the points that finished,
    and a line on stderr saying what was kept and what did not run."""
    from .serving.curve import CURVE_PNG, curve_name, point_text, save_curve

    if not kept:  # bad input found before any point ran, or stopped during the first: nothing to keep
        return
    n, outdir = len(kept), folder(kept[0])
    save_curve(outdir, key, values[:n], kept, name=curve_name(kept[0].report), plots=plots, points=False)
    if isinstance(key, str):  # one key: its values
        done, rest = f"{key}={','.join(values[:n])}", ",".join(values[n:])
    else:  # several: the points, each as --sweep items write it
        done, rest = "; ".join(point_text(key, v) for v in values[:n]), "; ".join(point_text(key, v) for v in values[n:])
    err.print(f"stopped after {n} of {len(values)} points: kept {done} in {outdir}/ "
              f"(point_0/{f' to point_{n - 1}/' if n > 1 else ''}, sweep.csv{f', {CURVE_PNG}' if plots else ''}); "
              f"not run: {rest}", soft_wrap=True, markup=False)


class _Progress:
    """Stage messages and a progress bar on stderr (only when it is a terminal)."""

    def __init__(self, console, enabled: bool):
        self.console = console
        self.enabled = enabled and console.is_terminal
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      TextColumn("{task.completed:,}/{task.total:,}"), TimeRemainingColumn(),
                                      console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("starting", total=1)
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=stage, completed=done, total=max(total, 1))

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()


_ARCH_KEYS = ("clock", "core", "cores", "levels", "hbm", "l2", "host", "plugins", "interconnect")


def _arch_ref(ref: str) -> bool:
    """Whether ``info``'s argument names an arch: an arch preset that is no workload, or a YAML file without a
    ``model:`` that gives arch keys or starts from an arch (``base: edge-npu``, or ``base: FILE`` that is one
    by this rule: a chain of files is followed to the file or preset it resolves to)."""
    from .config import presets
    from .config.yamlio import load_yaml

    names = ("workloads", "arch")
    if not presets.looks_like_path(ref):
        return ref in presets.list_presets(names[1]) and ref not in presets.list_presets(names[0])
    path = Path(ref).expanduser()
    seen: set[Path] = set()
    while path.is_file() and path.name.endswith((".yaml", ".yml")) and path.resolve() not in seen:
        seen.add(path.resolve())
        try:
            data = load_yaml(path)[0]
        except AccelsimError:
            return False
        if not isinstance(data, dict) or "model" in data:
            return False
        base = data.get("base")
        if any(k in data for k in _ARCH_KEYS) or base in presets.list_presets("arch"):
            return True
        if isinstance(base, str) and not presets.looks_like_path(base):
            return _unknown_base_is_an_arch(data, base)
        if not isinstance(base, str):
            return False
        try:  # as the loader reads it: as given, else from the file's folder
            path = presets.resolve("arch", base, relative_to=path.parent)
        except AccelsimError:
            return False
    return False


def _unknown_base_is_an_arch(data: dict, base: str) -> bool:
    """Whether a file without ``model:`` or arch keys, whose ``base:`` names no arch preset, is meant as an arch,
    so that an unknown name is reported against the arch presets (as ``run -a`` does): a base that names a
    workload or builder is a workload; an unknown one is an arch when the file's other keys are all arch keys,
    unless the name is close to a workload's and to no arch preset's (a typo of ``resnet50``)."""
    import difflib

    from .builders import BUILDERS
    from .config import presets
    from .hardware import Arch

    workloads = set(presets.list_presets("workloads")) | set(BUILDERS)
    if base in workloads or not set(data) - {"name", "base", "description"} <= set(Arch.model_fields):
        return False
    near_workload = difflib.get_close_matches(base, sorted(workloads), n=1)
    return not near_workload or bool(difflib.get_close_matches(base, presets.list_presets("arch"), n=1))


def _inherited_description(arch) -> str | None:
    """The preset whose description ``arch`` carries while its figures differ from that preset's (a ``--set`` item,
    or a file's keys over ``base:``), or None: the text then describes another arch's clock, peaks and sizes. A
    description the user wrote matches no preset's, and is never marked."""
    from . import config
    from .config.presets import search_dirs

    if not arch.description:
        return None
    own = arch.model_dump(exclude={"name", "description"})
    for name in sorted({p.stem for folder in search_dirs("arch") for p in folder.glob("*.y*ml")}):
        preset = config.load_arch(name)
        if preset.description == arch.description:
            return None if preset.model_dump(exclude={"name", "description"}) == own else name
    return None


def _cmd_info_arch(args: argparse.Namespace) -> int:
    """``accelsim info ARCH``: the arch as resolved (presets, ``base:`` and ``--set arch.KEY=VALUE`` applied): its
    description, clock, cores, its units with their peak MACs per cycle, one chip's peaks (and the system's, × chips), its
    memory levels in order, with chips > 1 its interconnect, and its energy constants and area as a run at its
    dtype accounts them (:mod:`accelsim.energy.resolved`; null without an ``energy:`` block)."""
    from . import config
    from .energy import no_energy_note
    from .energy.resolved import arch_area, arch_energy
    from .report.summary import interconnect_summary
    from .units import format_bandwidth, format_frequency, format_size, format_time

    if args.batch is not None or args.mode is not None:
        raise AccelsimError("--batch/--mode: info of an arch takes no workload options")
    arch = config.load_arch(args.workload, args.overrides)
    units = [{"name": u.name, "kind": u.kind, "count": u.count, "macs_per_cycle": u.macs_per_cycle}
             | ({"lanes": u.spec.lanes} if u.kind == "vector" else {})
             | (_array_geometry(arch, u.spec) if u.kind == "systolic" else {}) for u in arch.core.unit_specs()]
    by_dtype = _peaks_by_dtype(arch)
    sram = arch.core.sram
    split = ({"unified": sram.unified} if sram.unified is not None else
             {"ifmap": sram.ifmap, "filter": sram.filter, "ofmap": sram.ofmap})
    # a memory's usable bytes where the driver keeps some of it (usable_fraction < 1): what runs fit and spill by
    levels = [{"name": lv.name, "role": lv.role}
              | (arch.memory(lv.name).capacity_fields() if lv.role == "memory" else {"capacity": lv.capacity})
              | {"bandwidth": None if math.isinf(lv.bandwidth) else lv.bandwidth,
               "latency": arch.memory(lv.name).latency if lv.role != "scratchpad" else 0.0}
              | ({"sram": {**split, "double_buffered": sram.double_buffered, "bytes_per_cycle": sram.bytes_per_cycle}}
                 if lv.role == "scratchpad" else _level_access(arch.memory(lv.name)))
              for lv in arch.hierarchy()]
    peak = arch.peak_macs_per_cycle  # one chip's: every core's units
    links = (interconnect_summary(arch.interconnect) if arch.chips > 1 and arch.interconnect is not None
             else None)
    ic = arch.interconnect
    if links is not None and ic.topology in ("torus", "full_mesh"):  # the links a collective is priced over
        links["links"] = round(ic.bandwidth / ic.link_bandwidth) if ic.link_bandwidth > 0 else ic.links
        links["link_bytes_per_s"] = ic.link_bandwidth
    # the preset's description: where it says which figures are assumptions (probe p130 #6: a TDP or link latency
    # borrowed from a peer simulator or another GPU was shown as a plain number)
    out = {"name": arch.name, "description": " ".join(arch.description.split()), "clock_hz": arch.clock_hz, "cores": arch.cores, "chips": arch.chips,
           "dtype": arch.dtype, "units": units, "peak_macs_per_cycle": peak,
           "peak_flops_per_s": 2.0 * peak * arch.clock_hz, "peak_flops_per_s_by_dtype": by_dtype,
           "system_peak_macs_per_cycle": peak * arch.chips,
           "system_peak_flops_per_s": 2.0 * peak * arch.clock_hz * arch.chips, "levels": levels,
           "interconnect": links, "energy": arch_energy(arch), "area": arch_area(arch),
           "structured_sparsity": _sparsity_info(arch)}
    unbounded = [lv["name"] for lv in levels if lv["bandwidth"] is None]
    out["notes"] = [f"{name}: bandwidth null = unbounded (the arch gives the level no bandwidth, e.g. no "
                    f"core.sram.bytes_per_cycle, so its accesses take no time)" for name in unbounded]
    inherited = _inherited_description(arch)
    # what a run says of an arch without energy constants (probe p211 #5: info printed no energy section, no reason)
    no_energy = no_energy_note(arch) if out["energy"] is None else None
    if no_energy:
        out["notes"].append(no_energy)
    if inherited:  # its figures are the preset's: `--set arch.clock=1.5GHz` still read "at 1410 MHz = 311.9
        # TFLOPS" above a table at 1.5 GHz (probe p150's side note), as did a file of `base: a100` (probe p162 #3)
        out["notes"].append(f"description: preset {inherited}'s own text, written for its figures; this arch "
                            f"changes some of them (--set or a file's keys over base:), the figures here are its own")
    if not out["notes"]:
        del out["notes"]
    if args.json:
        from .report.writers import json_text

        print(json_text(out, indent=2))
        return 0
    from rich.table import Table

    con = _stdout_console()
    if out["description"]:  # a line above the table, which it would widen to its length in a pipe
        con.print(out["description"] + (f" [preset {inherited}'s text, for its own figures]" if inherited else ""),
                  markup=False, highlight=False)
    head = Table(title=f"arch {arch.name}", show_header=False)
    head.add_row("clock", format_frequency(arch.clock_hz))
    head.add_row("cores", f"{arch.cores:,}" + (f" per chip, {arch.chips} chips" if arch.chips > 1 else ""))
    head.add_row("dtype", arch.dtype)
    for u in units:
        what = (f"{u['lanes']:,} lanes per core (element ops, counted in FLOPs, not MACs)"
                if "lanes" in u and not u["macs_per_cycle"] else
                f"{u['lanes']:,} lanes per core, its matmuls at one MAC per lane a cycle: "
                f"{_macs_text(u['macs_per_cycle'])} MACs/cycle per core" if "lanes" in u
                else f"{_macs_text(u['macs_per_cycle'])} MACs/cycle per core")
        if "rows" in u:
            kept = (f"{u['partial_sum_bytes']} B a partial sum" if not arch.core.tile else
                    f"in registers: the SRAM holds {u['partial_sum_bytes']} B outputs")  # GPU thread-block tiles
            what = (f"{u['rows']:,}x{u['cols']:,} {u['dataflow']}, preload_overlap "
                    f"{'on' if u['preload_overlap'] else 'off'}, accumulates in {u['accumulator_dtype']} "
                    f"({kept}): {what}")
        head.add_row(f"unit {u['name']}", f"{u['kind']} x{u['count']}: {what}")
    pad = levels[0]["sram"]
    per = "" if "unified" in pad else ", ".join(f"{k} {format_size(pad[k])}" for k in ("ifmap", "filter", "ofmap"))
    head.add_row("sram per core", (f"unified {format_size(pad['unified'])}" if "unified" in pad else per)
                 + (", double-buffered (a tile uses half of each buffer)" if pad["double_buffered"] else
                    ", single-buffered")
                 + (f", {pad['bytes_per_cycle']:,} B/cycle" if pad["bytes_per_cycle"] is not None else ""))
    chip = f"per chip ({arch.cores:,} cores)" if arch.cores > 1 else "per chip"
    system = f"; {arch.chips:,} chips: " if arch.chips > 1 else ""
    # exact counts with separators (",.6g" turned 64 x 131,072 into 8.38861e+06: probe p59 finding 2)
    head.add_row("peak MACs/cycle", f"{_macs_text(peak)} {chip}"
                 + (f"{system}{_macs_text(out['system_peak_macs_per_cycle'])}" if system else ""))
    head.add_row("peak FLOP/s", f"{out['peak_flops_per_s']:.4g} {chip}, at the {arch.dtype} rate"
                 + (f"{system}{out['system_peak_flops_per_s']:.4g}" if system else ""))
    con.print(head)
    if by_dtype:
        _print_rates(con, arch, by_dtype, out["structured_sparsity"])
    table = Table(title="memory levels, innermost first")
    for col in ("level", "role", "capacity", "bandwidth", "latency", "access", "efficiency"):
        table.add_column(col, justify="left" if col in ("level", "role") else "right")
    for lv in levels:
        per_core = "/core" if lv["role"] == "scratchpad" and arch.cores > 1 else ""
        eff = "" if "efficiency" not in lv else f"{lv['efficiency']:g}" + "".join(
            f", {format_size(size)}+: {e:g}" for size, e in lv["efficiency_by_size"])
        usable = f" ({format_size(lv['usable'])} usable)" if "usable" in lv else ""
        table.add_row(lv["name"], lv["role"], format_size(lv["capacity"]) + per_core + usable,
                      "unbounded" if lv["bandwidth"] is None else format_bandwidth(lv["bandwidth"]),
                      format_time(lv["latency"]), format_size(lv["access_bytes"]) if "access_bytes" in lv else "",
                      eff)
    con.print(table)
    if links is not None:
        con.print(_links_table(links, arch.chips))
    if out["energy"] is not None:
        con.print(_energy_table(out["energy"], out["area"], arch))
    else:  # the run's note, as `accelsim run` prints it
        con.print(f"note: {no_energy}", markup=False, highlight=False)
    return 0


def _print_rates(con, arch, by_dtype: dict, sparsity: dict) -> None:
    """``info ARCH``'s table of one chip's peak FLOP/s per compute dtype and unit (with each N:M pattern's sparse
    peak where the unit skips zeros: the datasheets' "with sparsity" figure, probe p69 #4), and its footnotes."""
    from rich.table import Table

    rates = Table(title="peak FLOP/s per chip by compute dtype (as X: a dtype the unit has no rate for runs at "
                        "X's)")
    rates.add_column("dtype")
    for name in by_dtype:
        rates.add_column(name, justify="right")
    # a unit without rates runs every dtype at its base rate, the arch dtype's (its runs_as): said under the table
    listed = {u.name: u.kind != "systolic" or bool(u.spec.rates) for u in arch.core.unit_specs()}
    # a column per N:M pattern of a unit that skips zeros: the datasheets' "with sparsity" peak (probe p69 #4)
    sparse_cols = [(name, p) for name, info in sparsity.items() for p in info["patterns"]
                   if p != "any"]
    for name, p in sparse_cols:
        rates.add_column(f"{name} {p} sparse", justify="right")
    for dtype in next(iter(by_dtype.values())):
        cells = [(by_dtype[name][dtype]["flops_per_s"], by_dtype[name][dtype]["runs_as"]) for name in by_dtype]
        sparse = [(by_dtype[name][dtype].get("sparse_flops_per_s", {}).get(p), by_dtype[name][dtype]["runs_as"])
                  for name, p in sparse_cols]
        rates.add_row(dtype, *(f"{f:.4g}" + ("" if runs_as == dtype else f" (as {runs_as})")
                               for f, runs_as in cells),
                      *("dense" if f is None else f"{f:.4g}" + ("" if runs_as == dtype else f" (as {runs_as})")
                        for f, runs_as in sparse))
    con.print(rates)
    for name, info in sparsity.items():
        declared = ", ".join(info["sparse_dtypes"]) or "every dtype"
        con.print(f"(structured sparsity: the {name} unit skips the zeros of {', '.join(info['patterns'])}-pruned "
                  f"weights (workload.sparsity) for {declared} (core.systolic.sparse_dtypes), so for the compute "
                  f"dtypes {', '.join(info['skips_zeros']) or 'none'} by the dtype each runs as; an N:M pattern "
                  f"runs at M/N x the dense peak, 2:4 at 2x; the others run dense)")
    for name, cells in by_dtype.items():
        for dtype, cell in cells.items():
            if "note" in cell:
                con.print(f"({dtype} on the {name} unit, as {cell['runs_as']}: {cell['note']})")
    if not all(listed.get(name, True) for name in by_dtype):
        con.print(f"(the {', '.join(n for n in by_dtype if not listed.get(n, True))} unit lists no "
                  f"core.systolic.rates: every dtype at its {arch.dtype} rate, rows x cols MACs a cycle)")


def _macs_text(macs: float) -> str:
    """A MACs-per-cycle figure as ``info`` prints it: a whole count with separators ("8,388,608"), a fractional
    one (a unit of a plug-in kind may give one) to 6 significant digits."""
    return f"{round(macs):,}" if float(macs).is_integer() else f"{macs:,.6g}"


def _array_geometry(arch, array) -> dict:
    """``info``'s figures of a systolic array beyond its MACs: rows, cols, dataflow, ``preload_overlap`` and the
    dtype its partial sums accumulate in (``accumulator_dtype``, else int32 for an integer arch dtype and fp32 for
    a floating-point one), and the bytes a partial sum of the arch's dtype then takes in the ofmap buffer
    (:meth:`accelsim.hardware.Core.partial_sum_bytes`: never fewer than the output's)."""
    acc = array.accumulator_dtype or ("int32" if "int" in arch.dtype else "fp32")
    return {"rows": array.rows, "cols": array.cols, "dataflow": array.dataflow,
            "preload_overlap": array.preload_overlap, "accumulator_dtype": acc,
            "partial_sum_bytes": arch.core.partial_sum_bytes(arch.dtype)}


def _level_access(level) -> dict:
    """``info``'s figures of how a cache or memory level serves transfers: its granule (``access_bytes``) and the
    sustained fraction of its bandwidth (``efficiency``; ``efficiency_by_size``: [bytes, fraction] pairs, the
    fraction for an op moving at least that many bytes, its time never below a transfer's just under that size:
    :meth:`accelsim.hardware.Level.efficiency_at`)."""
    return {"access_bytes": level.access_bytes, "efficiency": level.efficiency,
            "efficiency_by_size": [[size, e] for size, e in level.efficiency_by_size]}


def _energy_table(energy: dict, area: dict, arch):
    """``info``'s table of an arch's energy constants and area, one chip's (:mod:`accelsim.energy.resolved`)."""
    from rich.table import Table

    from .report import fmt

    table = Table(title=f"energy and area per chip, at {fmt.general(energy['node_nm'])} nm and "
                        f"{fmt.general(energy['voltage_v'])} V", show_header=False)
    table.add_row("TDP", fmt.watts(energy["tdp_w"]) if energy["tdp_w"] is not None else "not given")
    static = fmt.watts(energy["idle_power_w"])
    if energy["static_w"] != energy["idle_power_w"]:
        static += f" ({fmt.watts(energy['static_w'])} with the levels' own static power)"
    table.add_row("idle (static) power", static)
    if energy["activity_power_share"]:
        table.add_row("activity power", f"{fmt.general(energy['activity_power_share'])} of TDP − idle = "
                                        f"{fmt.watts(energy['activity_w'])} while busy")
    lanes = energy.get("mac_on_lanes") or ()
    for name, pj in energy["mac_pj"].items():  # a dtype the array runs on the lanes says so (probe p254 #1)
        on = f" (on the vector lanes: 2 {name} FLOPs, no array)" if name in lanes else ""
        table.add_row(f"MAC {name}", f"{pj:.4g} pJ{on}")
    table.add_row("vector FLOP", f"{energy['vector_pj']:.4g} pJ ({arch.dtype})")
    rule = energy["sram_port_rule"]  # a port that follows the array: say from what (probe p211 #1)
    port = f"{energy['sram_port_bits']:,} bits"
    if rule is not None:
        edge = getattr(arch.core.systolic, rule)
        port += f" (core.systolic.{rule} {edge:,} x {energy['sram_port_bits'] // edge} bits of {arch.dtype})"
    table.add_row("scratchpad port", port)
    missing = set(energy["no_energy_per_bit"])
    for name, pj in energy["level_pj_per_byte"].items():
        table.add_row(f"level {name}", f"{pj:.4g} pJ/byte" + (" (no energy_per_bit given: 0)" if name in missing
                                                              else ""))
    for name, mm2 in {**area["units"], **area["levels"], "other": area["other_mm2"]}.items():
        if mm2 or name != "other":
            table.add_row(f"area {name}", fmt.mm2(mm2))
    table.add_row("area total", fmt.mm2(area["total_mm2"]))
    return table


def _links_table(links: dict, chips: int):
    """``info``'s table of an arch's interconnect (report.json's ``arch.interconnect``): its bandwidth per chip,
    latency per step and topology first, then every other field as resolved."""
    from rich.table import Table

    from .report import fmt

    table = Table(title=f"interconnect, {chips:,} chips", show_header=False)
    table.add_row("bandwidth", f"{fmt.bandwidth(links['bytes_per_s'])} per chip, each direction")
    table.add_row("latency", f"{fmt.seconds(links['latency_s'])} per step")
    for key, value in links.items():
        if key == "link_bytes_per_s":
            table.add_row("per link", f"{fmt.bandwidth(value)} each direction")
        elif isinstance(value, dict):  # nccl, scale_out: each field with its unit (probe p104 #6: 5e+10, 2e-05)
            table.add_row(key, ", ".join(f"{k}={_link_field(k, v, fmt)}" for k, v in value.items()))
        elif key not in ("bytes_per_s", "latency_s"):
            table.add_row(key, _link_field(key, value, fmt))
    return table


def _link_field(key: str, value: object, fmt) -> str:
    """One interconnect field as text: a bandwidth (B/s) or latency (s) with its unit, energy per bit in pJ/bit."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if key.endswith("bandwidth"):
            return fmt.bandwidth(value)
        if key.endswith("latency"):
            return fmt.seconds(value)
    return fmt.general(value) + (" pJ/bit" if key == "energy_per_bit" else "")


def _peaks_by_dtype(arch) -> dict[str, dict[str, dict]]:
    """{unit name: {dtype: {"runs_as", "flops_per_s"[, "note"]}}} over every compute dtype a unit can give a rate for
    (:data:`accelsim.units.RATE_BITS`), all cores: a MAC unit's 2 x MACs/cycle (the vector unit's too where its
    lanes are the core's MAC peak, a core without a systolic array: 2 x lanes, as the summary's peak FLOP/s), else
    the vector unit's lanes (a lane one FLOP a cycle), times the rate multiplier of the dtype the op runs as
    (:meth:`accelsim.hardware.SystolicArray.rate`, :func:`accelsim.hardware.dtype_rate`) and the clock. The one
    source of ``info``'s table and its --json; ``note``: the arch's ``core.systolic.rate_notes`` on a dtype the array
    runs as another. Units with neither MACs nor lanes (a plug-in's other
    work) are left out."""
    from .hardware import SystolicArray, dtype_rate
    from .units import RATE_BITS

    out: dict[str, dict[str, dict]] = {}
    for u in arch.core.unit_specs():
        base = 2.0 * u.macs_per_cycle if u.macs_per_cycle > 0 or u.kind != "vector" else u.spec.lanes * u.count
        if base <= 0:
            continue
        rates = dict(getattr(u.spec, "rates", None) or {})
        out[u.name] = {}
        for dtype in RATE_BITS:
            # an array without rates: every dtype as the arch's, as a run prices it (probe p130 #4: --json said fp32)
            runs_as, rate = (u.spec.rate(dtype, arch.dtype) if isinstance(u.spec, SystolicArray)
                             else dtype_rate(rates, dtype))
            flops = base * rate * arch.cores * arch.clock_hz
            out[u.name][dtype] = {"runs_as": runs_as, "flops_per_s": flops}
            said = getattr(u.spec, "rate_notes", {}).get(dtype) if runs_as != dtype else None
            if said:  # the arch's words on a dtype its array runs as another (a TPU's fp32: probe p130 #5)
                out[u.name][dtype]["note"] = said
            sparse = {p: flops * gain for p, gain in _sparse_gains(u, dtype).items()}
            if sparse:
                out[u.name][dtype]["sparse_flops_per_s"] = sparse
    return out


def _sparse_gains(unit, dtype: str) -> dict[str, float]:
    """{N:M pattern: K / the K the array runs} for each pattern of a systolic ``unit``'s ``structured_sparsity``
    whose zeros it skips for compute dtype ``dtype`` (:meth:`accelsim.hardware.SystolicArray.executed_k`, the rule
    a run prices a pruned GEMM by, over a K of whole groups): 2:4 gives 2, a datasheet's "with sparsity" peak over
    the dense one; {} for a dtype that runs dense, a unit that skips none, and ``any`` (M / N for every N:M)."""
    from .units import Sparsity

    if unit.kind != "systolic" or not unit.spec.structured_sparsity:
        return {}
    out = {}
    for text in unit.spec.structured_sparsity:
        if text == "any":
            continue
        pattern = Sparsity.parse(text)
        k = pattern.m * 64
        ran = unit.spec.executed_k(pattern, k, dtype)
        if ran < k:
            out[text] = k / ran
    return out


def _sparsity_info(arch) -> dict[str, dict]:
    """{systolic unit name: {"patterns", "sparse_dtypes", "skips_zeros"}} for each unit that lists
    ``structured_sparsity``: its patterns, the dtypes declared to skip zeros (``sparse_dtypes``; empty: every
    dtype) and the compute dtypes that do, matched by the dtype each runs as (fp8 on an A100, as bf16)."""
    from .units import RATE_BITS, Sparsity

    out = {}
    for u in arch.core.unit_specs():
        if u.kind == "systolic" and u.spec.structured_sparsity:
            probes = [Sparsity.parse("2:4" if p == "any" else p) for p in u.spec.structured_sparsity]
            skips = [d for d in RATE_BITS if any(u.spec.executed_k(p, p.m * 64, d) < p.m * 64 for p in probes)]
            out[u.name] = {"patterns": list(u.spec.structured_sparsity), "sparse_dtypes": list(u.spec.sparse_dtypes),
                           "skips_zeros": skips}
    return out


_DTYPE_SOURCES = {
    "workload": "workload.dtype", "arch": "the arch's dtype, as run uses", "config": "the model config's torch_dtype",
    "default": f"default: {INFO_DEFAULT_DTYPE}, what run uses on the GPU presets; --arch A or --set workload.dtype=X "
               "for another"}
"""``info``'s words for where its dtype came from (``dtype_source`` in --json)."""


def _info_dtype(wl, arch_dtype: str | None) -> tuple[str, str]:
    """The dtype ``info`` builds workload ``wl`` in when it names none, and where that comes from (a key of
    :data:`_DTYPE_SOURCES`): --arch's dtype ``arch_dtype`` (what `run` on that arch applies), else the model
    config's ``torch_dtype``, else :data:`INFO_DEFAULT_DTYPE`. A set ``workload.dtype`` wins over all of them."""
    from .builders import config_dtype

    if wl.params.get("dtype") is not None:
        return INFO_DEFAULT_DTYPE, "workload"
    if arch_dtype is not None:
        return arch_dtype, "arch"
    named = config_dtype(wl.model, wl.params)
    return (named, "config") if named else (INFO_DEFAULT_DTYPE, "default")


def _shown_part(parts: list[tuple[str, int]], part_graphs: dict[str, Graph], graph: Graph) -> str:
    """The pipeline part whose graph ``graph`` (the operators table) is: by its name, not the most-run part, which a
    tie (every part once at ``steps: 1``) made the text encoder (probe p106 #4)."""
    return next((p for p, _ in parts if part_graphs[p].name == graph.name), max(parts, key=lambda pc: pc[1])[0])


def _print_info_json(summary: dict, wl, graph: Graph, parts, part_graphs: dict[str, Graph], pruned: int) -> None:
    """``accelsim info WORKLOAD --json``: the summary with the workload, a diffusion pipeline's parts, the sparsity
    and the operators table."""
    summary["workload"] = {"model": wl.model, "params": dict(wl.params), "batch": _info_batch(wl, graph)}
    if parts:
        summary["pipeline"] = [{"part": part, "count": count, **part_graphs[part].summary()}
                               for part, count in parts]
        summary["op_table_part"] = _shown_part(parts, part_graphs, graph)  # the denoiser: `graph`
        # the totals are the pipeline's, named as the workload; the table is one part's graph, named as it is
        summary["name"], summary["op_table_graph"] = wl.model, graph.name
        summary["op_table_ops"] = len(graph.ops)
    if pruned:
        summary["sparsity"] = {"pattern": graph.meta.get("sparsity"), "pruned_ops": pruned}
    summary["flops_per_mac"] = summary["flops"] / summary["macs"] if summary["macs"] else None
    summary["op_table"] = [
        {"name": op.name, "kind": op.kind.value, "fn": op.fn, "inputs": list(op.inputs),
         "out_shape": list(op.out_shape), "params": params, "macs": op.macs, "flops": op.flops}
        for op, params in zip(graph.ops, _first_params(graph), strict=True)]
    from .report.writers import json_text

    print(json_text(summary, indent=2))


def _first_params(graph: Graph) -> list[int]:
    """Each op's parameter elements for ``info``'s operators table, every named tensor on the first op that holds it
    (a tied LM head or Whisper's proj_out shows 0: its table is the embedding's), so the rows add up to
    ``Graph.params`` (a packed parameter by its slices, not again on its training step: ``Graph.packed_params``)."""
    seen: set[str] = set(graph.packed_params)
    out = []
    for op in graph.ops:
        fresh = [w for w in op.weights if w.role == "param" and w.name not in seen]
        seen.update(w.name for w in fresh)
        out.append(sum(w.numel for w in fresh))
    return out


def _info_batch(wl, graph: Graph) -> object:
    """The batch ``info`` names: the samples the graph runs, as report.json's ``workload.batch`` gives it (an ONNX
    model's batch axis sized by ``dims``, a layer list's input batch dim times ``batch``), else the workload's
    ``batch``; None (no batch in the header) where the graph's meta gives None, as report.json's null does: an ONNX
    model whose inputs' batch axes took different sizes (probe p47 #4: info said the requested batch 1)."""
    if "batch" not in graph.meta:
        return wl.params.get("batch")
    batch = graph.meta["batch"]
    return batch if isinstance(batch, int) and not isinstance(batch, bool) else None


def _check_info_name(ref: str) -> None:
    """Refuse a bare name that is neither a workload (preset or builder) nor an arch preset, in one line naming
    both kinds and the closest names of each (``info`` takes either: probe p59 finding 5), and a YAML path that does
    not exist, naming both kinds."""
    import difflib

    from .builders import BUILDERS
    from .config import presets

    path = Path(ref).expanduser()
    if presets.looks_like_path(ref) and not path.exists() and not ref.endswith(".onnx"):
        # a YAML file may hold either kind: the workload loader's "workload: file not found" named a kind the user
        # may not have meant (probe p78 #3: a mistyped arch file); an .onnx file is a workload, its loader says so
        raise AccelsimError(f"{ref}: workload or arch: file not found (got {ref!r})")
    if path.is_dir():
        raise AccelsimError(f"{ref}: workload or arch: is a directory, not a YAML file (got {ref!r})")
    if path.is_file() and not ref.endswith(".onnx"):
        given = _run_file(ref, path)  # an experiment, serving or sweep file by path: name what it runs (probe p95 #7)
        if given is not None:
            raise AccelsimError(given)
    if presets.looks_like_path(ref) or presets.import_form(ref) is not None or path.exists():
        return  # a file (or folder) the loader reports on itself
    workloads = sorted(set(presets.list_presets("workloads")) | set(BUILDERS))
    arches = presets.list_presets("arch")
    if ref in workloads or ref in arches:
        return
    preset = _run_preset(ref)  # an experiment or serving preset: name what it runs (probe p94 #7)
    if preset is not None:
        raise AccelsimError(preset)
    near = [f"{name!r} ({kind})" for kind, names in (("workload", workloads), ("arch", arches))
            for name in difflib.get_close_matches(ref, names, n=2, cutoff=0.6)]
    hint = f"; did you mean {' or '.join(near)}?" if near else ""
    raise AccelsimError(f"{ref}: neither a workload nor an arch{hint} ('accelsim list' shows them all)")


def _layers_text(value: object) -> object:
    """A ``model: layers`` list as ``info``'s title shows it: the count and the layer types, each type once in the
    order met, four at most ("3 (linear, relu, add)"), not every field of every layer flattened into the title (probe
    p89 #7); any other value as it is (a number of layers, as transformer builders take)."""
    if not isinstance(value, (list, tuple)) or not value:
        return value
    types = list(dict.fromkeys(str(layer.get("type")) if isinstance(layer, dict) else type(layer).__name__
                               for layer in value))
    shown = ", ".join(types[:4]) + (", …" if len(types) > 4 else "")
    return f"{len(value)} ({shown})"


def _run_preset(ref: str) -> str | None:
    """``info``'s message for the name of an experiment or serving preset (``accelsim info resnet50_tpu_v1``): what
    it is, the workload and arch it names, and the commands that show or run them; None for any other name."""
    from .config.presets import experiment_names, find_preset, is_sweep_file, list_presets, preset_dir
    from .config.serving import SERVING_DIR, serving_presets

    if ref in experiment_names():
        kind, command, part = "an experiment", "run", "workload"
        path = find_preset("experiments", ref)
    elif ref in serving_presets():
        kind, command, part = "a serving preset", "serve", "model"
        path = preset_dir("experiments") / SERVING_DIR / f"{ref}.yaml"
    elif ref in list_presets("experiments") and is_sweep_file(find_preset("experiments", ref) or ""):
        return f"{ref}: a sweep, not a workload or arch ('accelsim sweep {ref}' runs it; 'accelsim list' shows them all)"
    else:
        return None
    return _runs_text(ref, kind, command, part, _yaml_mapping(path))


def _run_file(ref: str, path: Path) -> str | None:
    """``info``'s message for the path of an experiment, serving or sweep file (``accelsim info
    experiments/resnet50_tpu_v1.yaml``), as :func:`_run_preset` gives for a preset's name: the loader would read it
    as a workload file and blame a ``model:`` it does not need (probe p95 #7); None for any other file (a workload
    or arch file: a ``model:`` or ``base:`` at the top, or no ``workload:``). The kinds are told apart as ``accelsim
    run`` / ``serve`` tell them (config.load: a sweep has grid:/zip: axes, a serving file's workload has arrivals)."""
    from .config.docs import file_kind  # the one test of a file's kind (probe p215 #3)

    data = _yaml_mapping(path)
    kind = file_kind(data)
    if kind == "sweep":
        return f"{ref}: a sweep, not a workload or arch ('accelsim sweep {ref}' runs it)"
    if kind == "serving" and "model" in data:
        return _runs_text(ref, "a serving file", "serve", "model", data, path.parent)
    if kind != "experiment" or data.get("workload") is None or "model" in data or "base" in data:
        return None
    return _runs_text(ref, "an experiment", "run", "workload", data, path.parent)


def _runs_text(ref: str, kind: str, command: str, part: str, data: dict, folder: Path | None = None) -> str:
    """"REF: KIND, not a workload or arch: its PART is W on arch A ('accelsim COMMAND REF' runs it; 'accelsim info
    W --arch A' shows that PART without the file's settings)", the names read from the file's ``data``; a path
    the file names is shown from the working directory (``folder`` is the file's own, which it is relative to)."""
    import os

    from .config.presets import looks_like_path

    def named(value: object) -> str | None:
        name = _preset_name(value)
        if name and folder is not None and looks_like_path(name) and not Path(name).expanduser().is_absolute():
            name = os.path.normpath(folder / name)
        return name

    workload, arch = named(data.get(part)), named(data.get("arch"))
    names = f": its {part} is {workload!r} on arch {arch!r}" if workload and arch else ""
    show = (f"; 'accelsim info {workload} --arch {arch}' shows that {part} without the file's settings"
            if workload and arch else "")
    return f"{ref}: {kind}, not a workload or arch{names} ('accelsim {command} {ref}' runs it{show})"


def _yaml_mapping(path: Path | None) -> dict:
    """The top-level mapping of the YAML file ``path`` (empty when there is none, it cannot be read or is no
    mapping: only a message's names are taken from it)."""
    from .config.yamlio import load_yaml
    from .errors import ConfigError

    try:
        data = load_yaml(path)[0] if path is not None else None
    except (ConfigError, OSError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _preset_name(value: object) -> str | None:
    """The preset an experiment's ``workload:`` / ``arch:`` (or a serving file's ``model:``) names: the string itself,
    or a mapping's ``base`` (else ``model``); None when it names none."""
    if isinstance(value, dict):
        value = value.get("base", value.get("model"))
    return value if isinstance(value, str) and value.strip() else None


def _info_target(args: argparse.Namespace) -> str:
    """``info``'s workload (or arch): the positional name or ``-w``'s (as ``run -w`` takes it), one of them."""
    given, flag = args.workload, args.workload_flag
    if given is not None and flag is not None and given != flag:
        raise _usage_error(f"info: two workloads ({given!r} and -w {flag!r}); give one")
    if given is None and flag is None:
        raise _usage_error("info: no workload; give a workload or arch name (accelsim info NAME, or -w NAME)")
    return given if given is not None else flag


def _cmd_info(args: argparse.Namespace) -> int:
    from . import config
    from .builders import build_workload

    args.workload = _info_target(args)
    if _arch_ref(args.workload):
        return _cmd_info_arch(args)
    _check_info_name(args.workload)
    wl = config.load_workload(args.workload, _workload_overrides(args))
    refused = config.load.training_only_issues(wl)
    if refused:
        raise ConfigError(refused)
    try:  # an --arch that does not load is the --arch's error, as run says it, not the workload's (probe p82 #5)
        arch = config.load_arch(args.arch) if args.arch is not None else None
        arch_dtype = arch.dtype if arch is not None else None
    except ConfigError as e:
        raise ConfigError([i if i.file not in (None, "<input>") else ConfigIssue("--arch", i.line, i.key, i.msg,
                                                                                i.value, i.has_value)
                           for i in e.issues]) from None
    try:
        default, source = _info_dtype(wl, arch_dtype)
        graph = build_workload(wl.model, wl.params, default_dtype=default)
    except WorkloadError as e:  # a layer list's bad shape: at its line in the workload file
        raise wl.located(e) from None
    if arch is not None:  # the stash as a run on that arch keeps it (a GPU preset's copied torch.cat outputs)
        from .scenarios.fit import stash_as_run

        graph = stash_as_run(graph, arch)
    summary, parts, part_graphs = _info_summary(wl, graph, default, source)
    pruned = sum("sparsity" in op.attrs for op in graph.ops)  # workload.sparsity: MACs, bytes are the kept weights'
    if args.json:
        _print_info_json(summary, wl, graph, parts, part_graphs, pruned)
        return 0


    con = _stdout_console()
    from .report.fmt import workload_text

    # a Hugging Face model's own name, not "hf": a preset's, else the config's _name_or_path or folder, as the graph
    # (--json's name, run's report) is named (probe p167 #4); the params as a run's summary line lists them (those the
    # pass reads, set ones only)
    name = wl.params.get("name") or (graph.name if graph.meta.get("architecture") else wl.model)
    title = workload_text({"name": name, "batch": _info_batch(wl, graph),
                           "architecture": graph.meta.get("architecture"),
                           "unread": graph.meta.get("unread_params"),
                           "params": {k: _layers_text(v) if k == "layers" else v
                                      for k, v in wl.params.items() if k not in ("name", "batch")}})
    head = _info_head(title, summary, wl, graph, parts, part_graphs, source, pruned)
    con.print(head)
    from .report.tables import Col, fitted_table

    # kind as run's ops.csv and report.json give it (conv, norm), fn the function (conv2d, batchnorm); at a narrow
    # console they and the output's shape go under the name, which is cut in its middle: the numbers stay whole
    cols = (Col("#", "right"), Col("name", role="name"), Col("kind", role="detail"), Col("fn", role="detail"),
            Col("output", role="detail"), Col("params", "right"), Col("MACs", "right"))
    rows = [[str(n), op.name, op.kind.value, op.fn, "x".join(map(str, op.out_shape)), f"{params:,}",
             f"{op.macs:,}"] for n, (op, params) in enumerate(zip(graph.ops, _first_params(graph), strict=True))]
    con.print(fitted_table("operators", cols, rows, con.width))
    return 0


def _info_summary(wl, graph: Graph, default: str | None, source: str
                  ) -> tuple[dict, list[tuple[str, int]] | None, dict[str, Graph]]:
    """``info``'s totals of ``graph`` (``wl`` built at ``default`` dtype, chosen by ``source``): the graph's summary
    with its dtype, the whole model's params beside a shard's, a diffusion pipeline's totals over its parts (the parts
    and their graphs returned too), a gpt iteration's over its micro-batches and pipeline stages
    (:func:`_iteration_totals`), what the totals cover (``scope``) and a mixture of experts' figures."""
    from .builders import build_workload
    summary = graph.summary()
    summary["dtype"] = graph.meta.get("dtype", default)
    summary["dtype_source"] = source
    whole = graph.meta.get("model_params")  # a shard's graph (tensor or pipeline parallel): report.json's params
    if whole and whole != summary["params"]:
        summary["params"], summary["params_per_chip"] = int(whole), summary["params"]
    from .scenarios import scenario_of
    from .scenarios.diffusion import parts_of

    parts = parts_of(wl)  # a diffusion pipeline: the table is one part's graph, the totals the whole pipeline's
    part_graphs: dict[str, Graph] = {}
    if parts:
        shown = str(wl.params.get("part"))
        for part, _ in parts:
            part_graphs[part] = graph if part == shown else build_workload(
                wl.model, {**wl.params, "part": part}, default_dtype=default)
        summary.update(_pipeline_totals(parts, part_graphs))
        if "params_per_chip" in summary:  # chip 0 holds every part (a tensor-parallel part's shard), as run counts it
            summary["params_per_chip"] = sum(part_graphs[p].params for p, _ in parts)
    stages = _stage_graphs(wl, graph, default) if scenario_of(wl) == "pipeline" else None
    if stages:  # a gpt iteration of m micro-batches through P stages: run's totals, not the shown stage's one
        summary.update(_iteration_totals(stages, graph, summary))
    # what the totals cover: "run" when they are what `accelsim run` reports (one graph, a diffusion pipeline's
    # parts times their counts, a gpt iteration's stages times its micro-batches), "pass" when run executes more (a
    # serving run's decode steps after this pass)
    summary["scope"] = "pass" if scenario_of(wl) == "serving" else "run"
    moe = graph.meta.get("moe")  # a mixture of experts: run's report.json moe figures
    if moe:
        summary["moe"] = {k: moe[k] for k in ("experts", "top_k", "moe_layers", "total_params", "active_params",
                                              "active_params_non_embedding") if k in moe}
    return summary, parts, part_graphs


def _info_head(title: str, summary: dict, wl, graph: Graph, parts: list[tuple[str, int]] | None,
               part_graphs: dict[str, Graph], source: str, pruned: int):
    """``info``'s table of totals (rich Table) under ``title``: params, what they cover, MACs, FLOPs, ops, dtype,
    sparsity, a pipeline's parts and the bytes."""
    from rich.table import Table

    from .units import format_size

    steps = int(wl.params.get("decode_steps") or 0)
    head = Table(title=title.replace("in report.json", "with --json"), show_header=False)
    head.add_row("params", f"{summary['params']:,}")
    if "trainable_params" in summary:  # frozen ones (DETR's conv1 / layer1) are not trained (probe p161 #1)
        head.add_row("trainable params", f"{summary['trainable_params']:,}")
    pp, micro = int(graph.meta.get("pipeline_parallel") or 1), int(summary.get("micro_batches") or 1)
    if "params_per_chip" in summary:
        head.add_row("params per chip", f"{summary['params_per_chip']:,} " + (
            f"(the largest stage's; MACs, FLOPs, bytes and ops: the {pp} stages' chips together)" if pp > 1 else
            "(MACs, FLOPs, bytes and ops: one chip's)"))
    if summary["scope"] == "pass":
        head.add_row("scope", (f"one decode step; run executes {steps:,}, the KV cache one token longer each"
                               if wl.params.get("phase") == "decode" else
                               f"the prefill; run adds {steps:,} decode steps after it") +
                     " (a serving run: its MACs and FLOPs are more than these)")
    elif parts:
        head.add_row("scope", "the whole pipeline as run executes it: each part's MACs, FLOPs and activation "
                              "bytes times its count, params and weight bytes once per part")
    elif "stages" in summary:  # a gpt iteration (_iteration_totals)
        training = "stashed_activation_bytes" in summary
        head.add_row("scope", f"the iteration as run executes it: {micro:,} micro-batch{'es' if micro > 1 else ''}"
                              + (f" through {pp} pipeline stages" if pp > 1 else "")
                              + (", forward and backward, the optimizer step once" if training else "")
                              + ("; bytes: the stages' weights" + (", gradients, optimizer state" if training else "")
                                 + " once each" + (", the activations kept for backward of the micro-batches in "
                                                   "flight on each stage" if training else "") if pp > 1 else ""))
    if "moe" in summary:
        m = summary["moe"]
        head.add_row("experts", f"{m['experts']:,}, top-{m['top_k']} in {m['moe_layers']:,} MoE layers")
        non = m["active_params_non_embedding"]  # a tied table is the output head, which every token reads whole
        head.add_row("active params", f"{m['active_params']:,} a token ("
                     + (f"{non:,} without the input embedding table)" if non != m["active_params"] else
                        "the embedding table tied to the output head: counted once, as the head)"))
    head.add_row("MACs", f"{summary['macs']:,}")
    head.add_row("FLOPs", f"{summary['flops']:,}")
    if parts:  # the pipeline's ops are every part's; the table lists the most-run part's alone
        shown = _shown_part(parts, part_graphs, graph)
        head.add_row("ops", f"{summary['ops']:,} (the parts' together: " +
                     " + ".join(f"{part} {len(part_graphs[part].ops):,}" for part, _ in parts) +
                     f"; the operators table lists the {shown}'s {len(graph.ops):,}, graph {graph.name})")
    else:
        head.add_row("ops", f"{summary['ops']:,}")
    head.add_row("dtype", f"{summary['dtype']} ({_DTYPE_SOURCES[source]})")
    if "stages" in summary:  # the operators table: one stage's one micro-batch (probe p117 #6, p157 #1)
        from .scenarios.pipeline import in_flight

        k = int(graph.meta.get("pipeline_stage") or 0)
        table = f"{graph.macs:,} MACs, {len(graph.ops):,} ops"
        if pp > 1:
            flight = in_flight(k, pp, micro, int(graph.meta.get("pipeline_interleave") or 1))
            kept = (f"; a run keeps up to {flight:g} micro-batches' activations in flight on it, of {micro:,}"
                    if graph.meta.get("mode") == "training" else "")
            head.add_row("pipeline stage", f"stage {k} of {pp}, one micro-batch, is the operators table ({table}){kept} "
                                           "(--set workload.pipeline_stage=K for another stage; --json's stages "
                                           "lists each stage's)")
        else:
            head.add_row("micro-batch", f"the operators table is one micro-batch of {micro:,} ({table})")
    if pruned:
        head.add_row("sparsity", f"{graph.meta.get('sparsity', '')}: {pruned:,} ops pruned (MACs: the kept "
                                 "weights'; weight bytes: compressed, with their indices)")
    if parts:
        head.add_row("pipeline", ", ".join(f"{part} x{count} ({part_graphs[part].params:,} params, "
                                           f"{part_graphs[part].macs:,} MACs each)" for part, count in parts) +
                     f" (the operators table: one {_shown_part(parts, part_graphs, graph)} pass; --set workload.part=P "
                     "for another part)")
    head.add_row("weight bytes", f"{summary['weight_bytes']:,} ({format_size(summary['weight_bytes'])})")
    head.add_row("activation bytes", f"{summary['activation_bytes']:,} ({format_size(summary['activation_bytes'])})")
    for key, label in (("stashed_activation_bytes", "kept for backward"), ("gradient_bytes", "gradient bytes"),
                       ("optimizer_state_bytes", "optimizer state bytes")):
        if key in summary:  # a training step
            head.add_row(label, f"{summary[key]:,} ({format_size(summary[key])})")
    return head


def _stage_graphs(wl, graph: Graph, default: str | None) -> list[tuple[int, int, Graph]] | None:
    """The stage graphs of a pipeline-scenario workload (``gpt``) run as more than one pass, as
    ``scenarios/pipeline.py`` builds them: one micro-batch of each distinct stage (0, 1 and P − 1; stage 1 stands
    for every middle stage) with its layers in one chunk, as (stage, the stages it stands for, graph); None for one
    stage and one micro-batch, where ``graph`` is the whole run."""
    from .builders import build_workload

    pp, m = int(graph.meta.get("pipeline_parallel") or 1), int(graph.meta.get("micro_batches") or 1)
    if pp == 1 and m == 1:
        return None
    shown, v = int(graph.meta.get("pipeline_stage") or 0), int(graph.meta.get("pipeline_interleave") or 1)
    distinct = sorted({0, min(1, pp - 1), pp - 1})
    count = {k: sum(1 for j in range(pp) if (j if j in distinct else 1) == k) for k in distinct}
    return [(k, count[k], graph if k == shown and v == 1 else build_workload(
        wl.model, {**wl.params, "pipeline_stage": k, "pipeline_interleave": 1}, default_dtype=default))
        for k in distinct]


def _micro_batch_counts(graph: Graph, m: int) -> dict[str, int]:
    """``graph``'s (one stage's one micro-batch) MACs, FLOPs and activation bytes in an iteration of ``m``
    micro-batches, as ``scenarios/pipeline.py`` repeats its ops: the forward and backward ops (any op in
    inference) and the inputs m times, the optimizer steps once; MACs and FLOPs each op's times its
    ``model_scale`` (report.schema.model_counts)."""
    macs = flops = 0.0
    activations = sum(math.prod(s) for s in graph.inputs.values()) * (graph.ops[0].elem_bytes if graph.ops else 1) * m
    for op in graph.ops:
        n = 1 if op.phase == "optimizer" else m
        scale = float(op.attrs.get("model_scale", 1.0))  # type: ignore[arg-type]
        macs += n * op.macs * scale
        flops += n * op.flops * scale
        activations += 0 if op.kind.is_view else n * op.out_bytes
    return {"macs": round(macs), "flops": round(flops), "activation_bytes": activations}


def _iteration_totals(stages: list[tuple[int, int, Graph]], graph: Graph, summary: dict) -> dict:
    """``info``'s totals of a ``gpt`` iteration (``stages``: :func:`_stage_graphs`), what its run reports: every
    stage's m micro-batches (:func:`_micro_batch_counts`); the stages' ops, weight, gradient and optimizer-state
    bytes once each (the pipeline's P chips hold them); the activations kept for backward, each stage's micro-batches
    in flight (1F1B); params per chip the largest stage's; and ``stages``, each distinct stage's one micro-batch."""
    from .scenarios.pipeline import in_flight

    pp, m = int(graph.meta.get("pipeline_parallel") or 1), int(graph.meta.get("micro_batches") or 1)
    v = int(graph.meta.get("pipeline_interleave") or 1)
    out: dict = {"macs": 0, "flops": 0, "activation_bytes": 0, "ops": 0, "weight_bytes": 0}
    training = "stashed_activation_bytes" in summary
    keys = ("stashed_activation_bytes", "gradient_bytes", "optimizer_state_bytes") if training else ()
    out.update(dict.fromkeys(keys, 0))
    rows = []
    for k, count, g in stages:
        one = g.summary()
        for key, value in _micro_batch_counts(g, m).items():
            out[key] += count * value
        for key in ("ops", "weight_bytes", "gradient_bytes", "optimizer_state_bytes"):
            if key in out:
                out[key] += count * int(one[key])  # type: ignore[call-overload]
        if training:  # stage j keeps in_flight(j) micro-batches' stashes, those of the stages k stands for each
            out["stashed_activation_bytes"] += round(int(one["stashed_activation_bytes"]) * sum(  # type: ignore[call-overload]
                in_flight(j, pp, m, v) for j in range(pp) if (j if j in (0, pp - 1) else 1) == k))
        rows.append({"stage": k, "count": count, **{key: one[key] for key in (
            "params", "macs", "flops", "ops", "weight_bytes", "activation_bytes", *keys)}})
    if "params_per_chip" in summary:  # run's: the largest stage's share
        out["params_per_chip"] = max(g.params for _, _, g in stages)
    out["micro_batches"], out["stages"] = m, rows
    return out


def _pipeline_totals(parts: list[tuple[str, int]], graphs: dict[str, Graph]) -> dict[str, int]:
    """``info``'s totals of a diffusion pipeline, as ``run`` counts them (scenarios/diffusion.py): each part's MACs,
    FLOPs and activation bytes times the executions of it, its params, weight bytes and ops once (the pipeline holds
    every part's weights; run's op rows are each part's ops with a count)."""
    return {"params": sum(int(graphs[p].meta.get("model_params") or graphs[p].params) for p, _ in parts),
            "macs": sum(n * graphs[p].macs for p, n in parts),
            "flops": sum(n * graphs[p].flops for p, n in parts),
            "ops": sum(len(graphs[p].ops) for p, _ in parts),
            "weight_bytes": sum(graphs[p].weight_bytes for p, _ in parts),
            "activation_bytes": sum(n * graphs[p].activation_bytes for p, n in parts)}


def _workload_overrides(args: argparse.Namespace) -> list:
    from .config.overrides import Override

    extra: list = list(args.overrides)
    for item in extra:
        if not item.startswith("workload."):
            raise AccelsimError(f"--set: info takes workload.KEY=VALUE overrides only (got {item!r})")
    if args.batch is not None:  # labelled with their flags, as run's (config.experiment_from_parts)
        extra.append(Override("workload", ("batch",), args.batch, f"--batch {args.batch}", label="--batch"))
    if args.mode is not None:
        extra.append(Override("workload", ("mode",), args.mode, f"--mode {args.mode}", label="--mode"))
    return extra


def _first_sentence(path: Path) -> str:
    """The first sentence of the comment block at the top of a preset file ("" when it has none)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(lines)
    end = text.find(". ")
    text = text[:end + 1] if end >= 0 else text
    return text if len(text) <= 110 else text[:109].rstrip() + "…"


def _workload_descriptions() -> dict[str, str]:
    """Each workload name (presets, then builders without a preset file) → a one-line description: the preset's
    ``description:``, else its builder's when the preset is the builder's own, else the first sentence of the
    preset's header comment."""
    from .builders import BUILDERS
    from .config import list_presets, load_workload, preset_dir
    from .config.presets import find_preset

    out: dict[str, str] = {}
    for name in list_presets("workloads"):
        try:
            spec = load_workload(name)
        except AccelsimError as e:
            out[name] = f"(invalid preset: {str(e).splitlines()[0]})"
            continue
        path = find_preset("workloads", name) or preset_dir("workloads") / f"{name}.yaml"
        builder = BUILDERS[spec.model].description
        out[name] = spec.description or (builder if spec.model == name else _first_sentence(path) or builder)
    for name, entry in sorted(BUILDERS.items()):
        out.setdefault(name, f"{entry.description} [builder: set its parameters with --set workload.KEY=VALUE]")
    return out


def _cmd_list(args: argparse.Namespace) -> int:
    from .config import list_presets
    from .config.presets import experiment_names
    from .config.serving import serving_presets

    con = _stdout_console()  # piped: one line a kind, not wrapped at 80 columns
    for kind in [args.kind] if args.kind else ["workloads", "arch", "experiments", "sweeps", "serving", "hf"]:
        if kind == "workloads":
            described = _workload_descriptions()
            width = max(map(len, described), default=0)
            if not args.kind:
                con.print(f"[bold]{kind}[/bold] ({len(described)}):")
            for n, text in described.items():
                print(f"{'' if args.kind else '  '}{n:<{width}}  {text}")
            continue
        if kind == "hf":
            from .builders.hfconfig import MODEL_TYPES, READERS

            names = list(READERS)
            if args.kind:  # each class with the model_type(s) a config without architectures names it by
                types = {a: ", ".join(t for t, c in MODEL_TYPES.items() if c == a) for a in names}
                width = max(map(len, names))
                for n in names:
                    print(f"{n:<{width}}  {types[n]}".rstrip())
                continue
        elif kind in ("experiments", "sweeps"):  # what `run` takes, and what `sweep` takes (probe p75 #2)
            runs = experiment_names()
            names = runs if kind == "experiments" else [n for n in list_presets("experiments") if n not in runs]
        else:
            names = serving_presets() if kind == "serving" else list_presets(kind)
        if args.kind:
            for n in names:
                print(n)
        else:
            con.print(f"[bold]{kind}[/bold] ({len(names)}): " + ", ".join(names))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep.runner import run_sweep

    _onnx_given(args, args.sweep)
    if args.workers is not None and args.workers < 1:
        raise AccelsimError(f"--workers: expected a number of workers >= 1 (got {args.workers})")
    if args.point is not None:
        return _sweep_point(args)
    summary = run_sweep(args.sweep, args.output, executor=args.executor, workers=args.workers,
                        scheduler=args.scheduler, progress=not args.quiet, plots=not args.no_plots)
    if args.no_plots:  # an earlier run's plots would not show the points run since (probe p94 #2)
        from .sweep.plots import HEATMAP_FILE, LINES_FILE, PARETO_FILE

        for name in (LINES_FILE, HEATMAP_FILE, PARETO_FILE):
            (Path(summary.outdir) / name).unlink(missing_ok=True)
    if args.quiet:  # the folder, as run -q and serve -q print theirs; -q hides the progress, not that points failed
        print(summary.outdir)
        if summary.failed:
            print(str(summary), file=sys.stderr)
    return summary.exit_status


def _sweep_point(args: argparse.Namespace) -> int:
    """``accelsim sweep FILE --point ID``: the point of that id (results.csv's ``id``, :func:`sweep.expand.point_id`)
    run alone as ``accelsim run`` runs an experiment, its report folder ``OUTDIR/point_ID`` (OUTDIR the sweep's
    folder: ``-o``, else the file's ``output:``, else runs/NAME). Its numbers are its results.csv row's: one
    experiment, simulated the same way. Before it simulates, OUTDIR is taken as a plain sweep takes it
    (:func:`~accelsim.report.writers.claim_folder`: new, empty, a sweep's, or holding only point folders), and
    point_ID as ``run`` takes its folder (new, empty or a run's), each refusal naming ``accelsim sweep --point``
    (probe p170 #1, #2: the sweep's folder was not checked, so a point went into a run's folder or a folder of a
    user's files, and point_ID was refused only after the simulation, naming 'accelsim run')."""
    from rich.console import Console

    from . import api
    from .config.sweep import load_sweep
    from .report.writers import claim_folder
    from .sweep.expand import PlanStream

    t0 = time.perf_counter()
    spec = load_sweep(args.sweep)
    point = next((p for p in PlanStream(spec) if p.id == args.point), None)
    if point is None:
        raise AccelsimError(f"--point: no point of {args.sweep} has the id {args.point!r} (the ids are results.csv's "
                            f"id column)")
    if point.experiment is None:
        raise AccelsimError(f"--point {args.point}: {point.error}")
    experiment = point.experiment
    if args.no_plots:
        experiment = dataclasses.replace(experiment, options=experiment.options.model_copy(update={"plots": False}))
    command = "accelsim sweep --point"
    sweep_dir = Path(args.output or spec.output or f"runs/{spec.name}")
    claim_folder(sweep_dir, "accelsim sweep", shown=command)  # before the simulation, which it would lose
    sweep_dir_made = not os.path.lexists(sweep_dir)
    try:
        outdir = _claimed(sweep_dir / f"point_{point.id}", "accelsim run", f"{spec.name} point {point.id}", command)
        with _Progress(Console(stderr=True), enabled=not args.quiet) as progress:
            report = api.run_experiment(experiment, progress=progress)
            progress("writing report", 0, 1)
            report.save(outdir, plots=experiment.options.plots)
    except BaseException:
        if sweep_dir_made:  # made for this point (its lock), which wrote nothing: removed as its point_ID is
            _release_folders()
            with contextlib.suppress(OSError):
                sweep_dir.rmdir()
        raise
    return _print_run(report, outdir, experiment.options.plots, False, args.quiet, t0)


def _cmd_plot(args: argparse.Namespace) -> int:
    from .report.writers import REPORT_FILE, mixed_folder
    from .sweep.store import SWEEP_FILE

    given = Path(args.outdir)
    if given.is_file():  # a file of the folder: report.json names its folder; another file is not drawn
        if given.name != REPORT_FILE:
            raise AccelsimError(f"{given}: a file; give the folder 'accelsim run', 'sweep' or 'serve' wrote "
                                f"('accelsim plot {given.parent}')")
        args.outdir = str(given.parent)
    if (mixed := mixed_folder(Path(args.outdir))) is not None:  # as compare (read_report) refuses it: p118 #2
        raise AccelsimError(mixed)
    if (Path(args.outdir) / SWEEP_FILE).is_file():  # a sweep folder, or a broken one: plot_sweep says what is wrong
        from .sweep.runner import plot_sweep

        paths = plot_sweep(args.outdir)
    elif not (Path(args.outdir) / "report.json").is_file() and (Path(args.outdir) / "sweep.csv").is_file():
        from .serving.curve import replot_curve  # an 'accelsim serve --sweep' folder

        paths = replot_curve(args.outdir)
    elif not (Path(args.outdir) / "report.json").is_file() and any(
            (Path(args.outdir) / f).is_file() for f in ("capacity.csv", "capacity_sweep.csv")):
        from .serving.curve import replot_capacity  # an 'accelsim serve --capacity' folder

        paths = replot_capacity(args.outdir)
    else:
        from .report.html import HTML_FILE, write_html
        from .report.plots import plot_report
        from .report.writers import read_report

        report = read_report(args.outdir)
        if report.get("kind") == "serving":  # an 'accelsim serve' folder
            from .serving import replot

            for path in replot(args.outdir, report):
                print(path)
            return 0
        try:
            paths = plot_report(report, Path(args.outdir))
            paths.append(write_html(report, Path(args.outdir) / HTML_FILE,
                                    images={p.stem: p.read_bytes() for p in paths}))
        except (TypeError, AttributeError, KeyError, ValueError, IndexError) as e:  # a report.json edited by hand
            from .report.schema import problems

            why = next((p for p in problems(report) if "not declared" not in p), f"{type(e).__name__}: {e}")
            raise AccelsimError(f"{Path(args.outdir) / 'report.json'}: not a report accelsim can plot: "
                                f"{why}") from None
    for path in paths:
        print(path)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .report.compare import compare_json, compare_tables, load_reports
    from .report.writers import json_text

    reports = load_reports(args.outdirs)
    if args.json:
        print(json_text(compare_json(reports, baseline=args.baseline), indent=2))
    else:
        out = _stdout_console()
        for table in compare_tables(reports, baseline=args.baseline, width=out.width):
            out.print(table)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
