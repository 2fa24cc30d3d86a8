"""LLM serving under load (``accelsim serve SERVING.yaml``; docs/serving.md): requests arrive over time, each
replica's engine batches prefills and decodes every iteration over a paged KV cache (:mod:`.engine`, vLLM V1's
scheduler), every iteration is priced by accelsim's accelerator model on a memoised grid of batch shapes
(:mod:`.cost`), and the run reports latency distributions, throughput, goodput and KV-cache use (:mod:`.metrics`).

Import layer: between ``api`` and ``scenarios`` (it simulates passes through :mod:`accelsim.scenarios.single`).
The event loop (:mod:`.sim`) is a plain heap, not SimPy: only ``engine`` imports simpy.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from .. import __version__
from ..config import WorkloadSpec, load_arch
from ..config.presets import find_preset, list_presets
from ..config.serving import SHAPE_PARAMS, ServeConfig, ServingSpec
from ..config.yamlio import load_yaml
from ..energy import constants
from ..energy.model import over_tdp
from ..errors import AccelsimError, WorkloadError
from ..hardware import Arch
from ..mapping.lower import EP_HINT
from ..options import default_memory_budget, recorded
from ..report.lock import writing
from ..report.serving_plots import LATENCY_PNG, TIMESERIES_PNG, plot_latency_cdf, plot_timeseries
from ..report.writers import atomic_write_text, save_folder, write_json
from . import page
from .cost import Footprint, Grid, GridShapeError, block_too_big, build_grid, footprint, kv_blocks, longest_notes
from .engine import ITERATION_BYTES, EncoderCost, IterationCost, Replica
from .metrics import CSV_COLUMNS, conversation_summary, request_rows, serving_summary, timeseries_rows, tpot
from .requests import Request, TooManyRequests, add_image_tokens, fewest, make_requests, set_prefixes
from .sim import ROUTERS, run_loop
from .speculative import Acceptor, draft_cost
from .speculative import summary as speculative_summary
from .trace import write_trace

Progress = Callable[[str, int, int], None]
FILES = ("report.json", "requests.csv", "timeseries.csv", "report.html", "trace.json", LATENCY_PNG, TIMESERIES_PNG)
TIMESERIES_COLUMNS = ("replica", "start_s", "seconds", "running", "waiting", "kv_blocks_used", "kv_fraction",
                      "batch_tokens")


@dataclass
class ServeResult:
    """A finished serving run: ``report`` (report.json's dict), the requests and the replicas."""

    report: dict
    requests: list[Request]
    replicas: list[Replica]
    output: str | None = None  # the file's default report folder

    def __getitem__(self, key: str):
        return self.report[key]

    def save(self, outdir: str | Path, *, trace: bool = False, plots: bool = False) -> list[Path]:
        """Write report.json, requests.csv and timeseries.csv (with ``trace`` trace.json, with ``plots`` the PNGs)
        into ``outdir``, each atomically; an earlier run's trace or plots are removed when not written again. The
        folder is claimed and locked as `accelsim serve -o` takes it (:func:`~accelsim.report.lock.writing`): a
        non-empty folder accelsim did not write, or another command's, is refused (probe p145 #1)."""
        out = save_folder(outdir)
        with writing(out, "accelsim serve", self.report.get("name") or out.name):
            return self._write(out, trace, plots)

    def _write(self, out: Path, trace: bool, plots: bool) -> list[Path]:
        paths = [write_json(self.report, out / "report.json"),
                 write_csv(out / "requests.csv", CSV_COLUMNS, request_rows(self.requests)),
                 write_csv(out / "timeseries.csv", TIMESERIES_COLUMNS, timeseries_rows(self.replicas))]
        if trace:
            paths.append(write_trace(self.requests, self.replicas, out / "trace.json"))
        else:
            (out / "trace.json").unlink(missing_ok=True)
        if plots:
            paths += self.plot(out)
        else:
            for name in (LATENCY_PNG, TIMESERIES_PNG):
                (out / name).unlink(missing_ok=True)
        paths.append(page.write(self.report, out, plots=plots))
        return paths

    def plot(self, outdir: Path) -> list[Path]:
        """Draw latency_cdf.png and serving_timeseries.png into ``outdir``."""
        done = [r for r in self.requests if r.finish == r.finish]  # not NaN
        latencies = {"TTFT": [r.first_token - r.arrival for r in done],
                     "TPOT": [t for r in done if (t := tpot(r)) is not None],
                     "end-to-end": [r.finish - r.arrival for r in done]}
        series = {}
        for rep in self.replicas:
            rows = timeseries_rows([rep])
            series[rep.index] = {"t": [float(x[1]) for x in rows], "running": [x[3] for x in rows],
                                 "waiting": [x[4] for x in rows], "kv_fraction": [float(x[6]) for x in rows]}
        return draw(self.report["name"], latencies, series, outdir)


def draw(name: str, latencies: dict, series: dict, outdir: Path) -> list[Path]:
    return [plot_latency_cdf(name, latencies, outdir / LATENCY_PNG), plot_timeseries(name, series, outdir / TIMESERIES_PNG)]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise AccelsimError(f"{path}: cannot read it ({e})") from None


def replot(outdir: str | Path, report: dict) -> list[Path]:
    """Redraw a serving folder's plots from its requests.csv and timeseries.csv (``accelsim plot OUTDIR``)."""
    out = Path(outdir)
    requests, samples = _csv_rows(out / "requests.csv"), _csv_rows(out / "timeseries.csv")
    try:
        done = [r for r in requests if r["finish_s"]]
        latencies = {"TTFT": [float(r["ttft_s"]) for r in done], "TPOT": [float(r["tpot_s"]) for r in done
                                                                           if r["tpot_s"]],
                     "end-to-end": [float(r["e2e_s"]) for r in done]}
        series: dict[int, dict[str, list]] = {}
        for row in samples:
            s = series.setdefault(int(row["replica"]), {"t": [], "running": [], "waiting": [], "kv_fraction": []})
            for key, col, kind in (("t", "start_s", float), ("running", "running", int), ("waiting", "waiting", int),
                                   ("kv_fraction", "kv_fraction", float)):
                s[key].append(kind(row[col]))
    except (KeyError, ValueError, TypeError) as e:
        raise AccelsimError(f"{out}: requests.csv or timeseries.csv is not one accelsim serve wrote ({e})") from None
    paths = draw(str(report.get("name", out.name)), latencies, series, out)
    try:
        return [*paths, page.write(report, out, plots=True)]
    except (KeyError, ValueError, TypeError, AttributeError) as e:  # a report.json edited by hand
        raise AccelsimError(f"{out / 'report.json'}: not a serving report accelsim can render ({e})") from None


def write_csv(path: Path, header: tuple[str, ...], rows: list[list]) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
    return path


def _swap_s(spec: ServingSpec, fp: Footprint) -> tuple[float, float]:
    """Seconds to move one KV block, and one sequence's recurrent state (hybrid models; 0 otherwise), over the host
    link (``engine.preemption: swap``)."""
    host = spec.arch.spill_memory
    if host is None:
        raise spec.error("engine.preemption", f"swap needs a host memory level; arch {spec.arch.name!r} has "
                         f"only {spec.arch.main_memory}", value="swap")
    bandwidth = spec.arch.memory(host).sustained_bandwidth
    return spec.serve.engine.block_size * fp.kv_bytes_per_token / bandwidth, fp.state_bytes_per_seq / bandwidth


class KvTransfer:
    """The KV transfers of a disaggregated run: calling it with a prefilled request gives the seconds its KV cache
    takes to reach a decode replica, ``latency`` + (its computed tokens × ``per_token`` + ``state``) / ``bandwidth``
    (bytes on one chip: each chip sends its own shard at once; ``state`` a hybrid model's recurrent state), and
    counts the transfer's bytes and seconds for report.json's ``serving.kv_transfer``."""

    def __init__(self, bandwidth: float, latency: float, per_token: int, state: int, link: str):
        self.bandwidth, self.latency, self.per_token, self.state, self.link = bandwidth, latency, per_token, state, link
        self.transfers, self.bytes, self.seconds = 0, 0, 0.0

    def __call__(self, req: Request) -> float:
        nbytes = req.computed * self.per_token + self.state
        seconds = self.latency + nbytes / self.bandwidth
        self.transfers += 1
        self.bytes += nbytes
        self.seconds += seconds
        return seconds

    def summary(self) -> dict:
        """report.json's ``serving.kv_transfer`` (docs/serving.md)."""
        n = self.transfers
        return {"link": self.link, "bandwidth_bytes_per_s": self.bandwidth, "latency_s": self.latency,
                "transfers": n, "bytes_per_chip": self.bytes, "seconds": self.seconds,
                "mean_bytes_per_chip": self.bytes / n if n else None, "mean_s": self.seconds / n if n else None}


NIC_HINT = "50GB/s between two servers, a DGX H100's 400 Gb/s ConnectX-7 NIC a GPU"
NVLINK_HINT = "450GB/s within one HGX/DGX H100 node, NVLink 4 per direction"


def _transfer(spec: ServingSpec, fp: Footprint) -> KvTransfer:
    """How a prefilled request's KV cache reaches a decode replica: ``disaggregation.bandwidth`` and ``latency``
    where given; else the arch's interconnect (at its efficiency) while every replica's chips fit in one node
    (``interconnect.node_chips``, or all the arch's chips), and its ``scale_out`` network (each GPU's NIC) when
    they do not, as replicas on separate servers talk over their NICs (every transfer is then priced as one
    between nodes)."""
    d, link = spec.serve.disaggregation, spec.arch.interconnect
    assert d is not None
    if d.bandwidth is None and link is None:
        raise spec.error("disaggregation.bandwidth", f"arch {spec.arch.name!r} has no interconnect to default to: "
                         f"give the KV transfer's bandwidth (e.g. {NIC_HINT}; {NVLINK_HINT}) or use a multi-chip "
                         "arch (dgx-h100)")
    params = spec.model.params
    chips = replica_chips(params) * (d.prefill_replicas + d.decode_replicas)
    node = link.node_chips or spec.arch.chips if link is not None else 0
    out = link.scale_out if link is not None and chips > node else None
    if d.bandwidth is not None:
        bandwidth, kind = d.bandwidth, "disaggregation.bandwidth"
    elif out is not None:
        bandwidth, kind = out.bandwidth * out.efficiency, f"interconnect.scale_out ({out.kind or 'between nodes'})"
    else:
        bandwidth, kind = link.group_bandwidth(2) * link.efficiency, f"interconnect ({link.kind or 'one node'})"  # type: ignore[union-attr]
    latency = d.latency if d.latency is not None else out.latency if out is not None else \
        link.latency if link is not None else 0.0
    return KvTransfer(bandwidth, latency, fp.kv_bytes_per_token, fp.state_bytes_per_seq, kind)


def _held(spec: ServingSpec, fp: Footprint | None) -> Callable[[int, int], int] | None:
    """A replica's count of the KV blocks a sequence holds (slots, computed tokens -> blocks) with vLLM's hybrid
    KV-cache manager (``engine.hybrid_kv_cache``), which frees a sliding-window layer's blocks out of its window
    (:meth:`.cost.Footprint.blocks`), plus an encoder-decoder's cross-attention blocks
    (:meth:`.cost.Footprint.cross_blocks`); None (every token's blocks held, nothing more) without windows shorter
    than max_model_len, with it off, or with prefix caching (whose shared blocks hold every layer: not modelled),
    and without a cross cache."""
    e = spec.serve.engine
    windowed = fp is not None and bool(fp.windows) and e.hybrid_kv_cache and not e.prefix_caching
    # an encoder-decoder's cross-attention K/V (Whisper's): blocks of their own, held from the request's first
    # chunk to its end (and freed with it, or on a preemption), as vLLM's per-request cross block table
    cross = fp.cross_blocks(e.block_size) if fp is not None else 0
    if not windowed and not cross:
        return None
    held = functools.partial(fp.blocks, block_size=e.block_size, hybrid=True) if windowed else None  # type: ignore[union-attr]
    if not cross:
        return held
    return lambda tokens, computed: (held(tokens, computed) if held else -(-tokens // e.block_size)) + cross


def _peak_blocks(spec: ServingSpec, fp: Footprint | None, total: int) -> int:
    """The most KV blocks a request of ``total`` tokens (prompt + output) holds. Its last sampled token is never fed
    back, so its KV covers at most total − 1 tokens, as the engine allocates ⌈(computed + new) / block_size⌉ and its
    last decode (or a recompute's prefill of prompt + generated) reaches total − 1 (vLLM V1's ``allocate_slots`` for
    num_computed_tokens + num_new_tokens; probe p212 #1: 500 + 13 tokens fit 32 blocks of 16): all of those
    blocks, or with :func:`_held` those of its last iteration, a decode or a prefill (chunk) of up to
    max_num_batched_tokens (a recompute's whole prefill without chunked prefill)."""
    e = spec.serve.engine
    held = _held(spec, fp)
    slots = max(total - 1, 1)
    if held is None:
        return -(-slots // e.block_size)
    step = e.max_num_batched_tokens if e.chunked_prefill else slots
    return max(held(slots, max(0, slots - step)), held(slots, slots - 1))


def _admissible(requests: list[Request], spec: ServingSpec, blocks: int,
                fp: Footprint | None = None) -> tuple[list[Request], list[Request]]:
    """Requests that can run, and those refused: longer than max_model_len, or more KV than a replica holds (each
    marked ``refused``; :func:`_peak_blocks`). Only requests with an arrival time: a conversation's later turns
    arrive as the turns before them finish (:func:`.sim.run_loop`), and are sorted out by :func:`_issued` after the
    run."""
    e = spec.serve.engine
    ok, refused = [], []
    for r in requests:
        total = r.prompt + r.output
        r.refused = not (total <= e.max_model_len and _peak_blocks(spec, fp, total) <= blocks)
        if not math.isnan(r.arrival):
            (refused if r.refused else ok).append(r)
    return ok, refused


def _issued(requests: list[Request]) -> tuple[list[Request], list[Request], list[Request]]:
    """After the run: every request that arrived (a conversation's turns after one refused never do), the runnable
    ones among them in arrival order, and the refused ones."""
    came = [r for r in requests if not math.isnan(r.arrival)]
    ok = sorted((r for r in came if not r.refused), key=lambda r: (r.arrival, r.id))
    return came, ok, [r for r in came if r.refused]


def ep_ranks(params: dict) -> int:
    """A replica's expert-parallel ranks, each an engine of its own with sequences of its own (builders/moe.py;
    :class:`.engine.Replica` ``ranks``)."""
    return int(params.get("expert_parallel") or 1)


def replica_chips(params: dict) -> int:
    """A replica's chips: tensor_parallel × expert_parallel (:func:`ep_ranks`)."""
    return int(params.get("tensor_parallel") or 1) * ep_ranks(params)


def rank_share(cost: Callable[..., float] | None, ranks: int) -> Callable[..., float] | None:
    """``cost`` (an iteration's prefill tokens, decodes, their KV sum, scores, ...) priced on the busiest of
    ``ranks`` expert-parallel ranks, which share a replica's batch evenly (attention data-parallel: vLLM's
    data_parallel_size with enable_expert_parallel, each rank running its own sequences, balanced by its DP
    coordinator): ⌈x / ranks⌉ of each count, the decodes' KV sum in proportion (their mean KV kept). The pass a
    grid simulates at batch b has b sequences on every rank of the group (the MoE layers route b·EP tokens), so
    a replica step of n sequences is that pass at ⌈n / EP⌉, not at n; every rank waits for the step's all-to-alls."""
    if cost is None or ranks == 1:
        return cost

    def priced(prefill: int, decodes: int, kv_sum: int, scores: int | None = None, *rest: int) -> float:
        share = -(-decodes // ranks)
        kv = -(-kv_sum * share // decodes) if decodes else 0
        return cost(-(-prefill // ranks), share, kv, None if scores is None else -(-scores // ranks),
                    *(-(-r // ranks) for r in rest))

    return priced


class Meter:
    """Each replica's iteration energy: the energy grid priced with the same arguments as the time (one chip's
    joules beyond its static power), summed per replica while the loop runs."""

    def __init__(self, joules: Grid | None, price: IterationCost, encode: EncoderCost | None = None,
                 ranks: int = 1):
        self.joules, self.price, self.encode, self.busy_j = joules, price, encode, {}
        self.ranks = ranks  # expert-parallel ranks sharing each iteration (:func:`rank_share`)

    def of(self, replica: int) -> IterationCost:
        """The iteration cost a replica uses: the time, with the energy counted on the side."""
        if self.joules is None:
            return self.price
        self.busy_j[replica] = 0.0
        energy = rank_share(self.joules.iteration, self.ranks)
        assert energy is not None

        def priced(prefill: int, decodes: int, kv_sum: int, scores: int | None = None, drafts: int = 0) -> float:
            if drafts:
                self.busy_j[replica] += max(energy(prefill, decodes, kv_sum, scores, drafts), 0.0)
                return self.price(prefill, decodes, kv_sum, scores, drafts)
            self.busy_j[replica] += max(energy(prefill, decodes, kv_sum, scores), 0.0)
            return self.price(prefill, decodes, kv_sum, scores)

        return priced

    def draft_of(self, replica: int, price: IterationCost | None, energy: IterationCost | None
                 ) -> IterationCost | None:
        """The draft model's cost a replica uses (its energy, from the draft's own energy grid, counted with the
        replica's iterations')."""
        if price is None or energy is None or self.joules is None:
            return price

        def priced(*args: int) -> float:
            self.busy_j[replica] = self.busy_j.get(replica, 0.0) + max(energy(*args), 0.0)
            return price(*args)

        return priced

    def encoder_of(self, replica: int, requests: EncoderCost | None = None) -> EncoderCost | None:
        """The image encoder's cost a replica uses (its energy counted with the replica's iterations'); with
        ``requests`` (:meth:`.cost.Grid.requests`) the per-request encoder's instead."""
        price = self.encode if requests is None else requests
        if self.joules is None or price is None:
            return price
        energy = self.joules.encoder if requests is None else self.joules.requests

        def priced(images: int) -> float:
            self.busy_j[replica] = self.busy_j.get(replica, 0.0) + max(energy(images), 0.0)
            return price(images)

        return priced

    def account(self, spec: ServingSpec, replicas: list[Replica], summary: dict, finished: list[Request]) -> dict:
        """report.json's ``energy``, ``power`` and ``efficiency`` (docs/serving.md, "Energy"): every chip of
        every replica draws its static power over the makespan and its iterations' energy; null without
        energy constants. The keys a run report gives the same quantity under (docs/energy.md) are given beside the
        serving names: ``efficiency.j_per_token`` (= ``j_per_output_token``), ``power.static_w``, ``power.tdp_w``
        and, when the average power per chip exceeds the TDP, ``power.tdp_clock_factor`` and a note (``notes``:
        to be added to the report's)."""
        c = constants(spec.arch, spec.model.params.get("dtype"))  # type: ignore[arg-type]
        if self.joules is None or c is None:
            return {"energy": None, "power": None, "efficiency": None, "notes": []}
        per = replica_chips(spec.model.params)  # a replica's chips, each priced as the simulated one
        chips = per * len(replicas)
        makespan = float(summary["makespan_s"])
        busy = sum(self.busy_j.values()) * per
        static = c.static_total * chips * makespan
        total = busy + static
        tokens = sum(r.output for r in finished if not math.isnan(r.finish))  # NaN: it never finished
        done = summary["finished"]
        per_chip = total / makespan / chips if makespan > 0 else None
        power = {"average_w": total / makespan if makespan > 0 else None, "average_w_per_chip": per_chip,
                 "static_w": c.static_total * chips, "tdp_w": c.tdp, "chips": chips}
        factor, note = over_tdp(c.tdp, c.static_total, per_chip, "average power",  # as a run report's
                                "accelsim serve does not throttle: lower the load or the batch") \
            if per_chip is not None else (None, None)
        if factor is not None:
            power["tdp_clock_factor"] = factor
        notes = [note] if note else []
        j_per_token = total / tokens if tokens else None
        return {"energy": {"total_j": total, "busy_j": busy, "static_j": static, "chips": chips},
                "power": power,
                "efficiency": {"j_per_output_token": j_per_token, "j_per_token": j_per_token,
                               "j_per_request": total / done if done else None},
                "notes": notes}


def _with_draft(spec: ServingSpec, fp: Footprint) -> Footprint:
    """A replica's footprint with the draft model's beside the model's (speculative decoding with a draft model:
    vLLM keeps both models' weights on each chip and gives every KV block both models' layers)."""
    if spec.draft_model is None:
        return fp
    with _shapes(spec, "draft_model"):
        d = footprint(spec.draft_model, spec.arch, spec.serve.engine)
    return replace(fp, weight_bytes=fp.weight_bytes + d.weight_bytes,
                   kv_bytes_per_token=fp.kv_bytes_per_token + d.kv_bytes_per_token,
                   state_bytes_per_seq=fp.state_bytes_per_seq + d.state_bytes_per_seq, long=False)


@contextlib.contextmanager
def _shapes(spec: ServingSpec, key: str) -> Iterator[None]:
    """Building ``key``'s passes at the engine's shapes: a shape its builder refuses (a context longer than its
    positions: GPT-2's 1,024 under max_model_len 4096) is a one-line error naming ``key`` and the engine limits
    that set it, not a traceback; a parameter its builder names is reported at its line."""
    model = spec.draft_model if key == "draft_model" else spec.model
    try:
        yield
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        e_ = spec.serve.engine
        raise spec.error(key, f"{where}: {first.get('msg')}: the engine's limits set the passes' shapes "
                         f"(max_model_len {e_.max_model_len}, max_num_batched_tokens {e_.max_num_batched_tokens}, "
                         f"max_num_seqs {e_.max_num_seqs})", value=first.get("input")) from None
    except WorkloadError as e:
        raise model.located(e) from None  # type: ignore[union-attr]
    except GridShapeError as e:  # a pass the engine's limits shape: at the limit that sets it, saying what helps
        fused = f"set {key}.attention: fused (its attention scores are never held whole) or " if e.unfused else ""
        hint = {"engine.max_num_batched_tokens": f"; {fused}lower engine.max_num_batched_tokens",
                "engine.max_num_seqs": "; lower engine.max_num_seqs"}.get(e.key, "")
        raise spec.error(e.key if e.key.startswith("engine.") else key, f"{e}{hint}") from None


@dataclass
class _Setup:
    """What a serving run needs besides the grid, found by :func:`_prepare` (every check a run makes before it
    simulates anything)."""

    requests: list[Request]
    fp: Footprint | None
    blocks: int
    images: bool  # some request carries images
    swap: tuple[float, float]
    transfer: KvTransfer | None
    notes: list[str]  # report.json's notes: a max_model_len beyond the model's context


def _prepare(spec: ServingSpec, blocks: int | None = None) -> _Setup:
    """The requests, the model's footprint and KV blocks, the swap and transfer times of ``spec``: every one-line
    error of bad input a run can meet before it simulates its grid."""
    s = spec.serve
    d = s.disaggregation
    shared = s.workload.shared_prefix
    if shared is not None and shared.tokens >= s.engine.max_model_len:  # probe p132 #4: it was cut to each prompt
        raise spec.error("workload.shared_prefix.tokens", f"{shared.tokens:,} shared tokens: every prompt is shorter "
                         f"than engine.max_model_len ({s.engine.max_model_len:,}) and shares at most all but its "
                         f"last token; give fewer", value=shared.tokens)
    try:
        requests = make_requests(s.workload, spec.trace_file)
    except TooManyRequests as e:
        raise spec.error("workload", str(e)) from None
    params = spec.model.params
    _check_chips(spec, "model", params, " a replica", suggest=True)
    if params.get("sequence_parallel"):  # it splits one prompt's tokens: a decode step has one a sequence
        raise spec.error("model.sequence_parallel", "not with serving: it splits a prompt's tokens over the chips, "
                         "and a serving engine's decode steps have one token a sequence", value=True)
    if int(params.get("context_parallel") or 1) > 1:  # the same split, over chips of their own
        raise spec.error("model.context_parallel", "not with serving: it splits a prompt's tokens over the chips, "
                         "and a serving engine's decode steps have one token a sequence",
                         value=params["context_parallel"])
    if params.get("mode", "inference") != "inference":
        raise spec.error("model.mode", "a serving run prices inference passes (prefills and decode steps)",
                         value=params["mode"])
    # a trace's images column (workload.images {dist: trace}, written or taken from the column: probe p99 #3)
    from_column = s.workload.images is not None and s.workload.images.dist == "trace" \
        and spec.set_rank("workload.images") == 0
    with_images = sum(r.images > 0 for r in requests)
    wants = s.workload.images is not None and not (from_column and not with_images)
    images = wants and with_images > 0
    if spec.model.params.get("images"):
        raise spec.error("model.images", "a serving run draws each request's images from workload.images (e.g. "
                         "{dist: fixed, value: 1}); leave the model's images at 0", value=spec.model.params["images"])
    need_fp = blocks is None or s.engine.preemption == "swap" or d is not None or wants
    if spec.draft_model is not None:
        _check_draft(spec)
    with _shapes(spec, "model"):  # building the model: a parameter its builder names is reported at its line
        fp = footprint(spec.model, spec.arch, s.engine) if need_fp else None
        if wants and not fp.image_positions:  # type: ignore[union-attr]
            name = spec.model.params.get("name") or spec.model.model
            if from_column:
                raise spec.at_line("workload.arrival.trace", f"its images column gives {with_images:,} request"
                                 f"{'s' * (with_images != 1)} images, but {name} has no image encoder (a "
                                 "vision-language model reads images: qwen2_5_vl_7b, llava_1_5_7b, gemma3_27b, ...)"
                                 "; serve one, or drop the column")
            raise spec.error("workload.images", f"{name} has no image encoder (a vision-language model reads "
                             "images: qwen2_5_vl_7b, llava_1_5_7b, gemma3_27b, ...)")
        if images:
            add_image_tokens(requests, fp.image_positions)  # type: ignore[union-attr]
        if s.workload.shared_prefix:
            set_prefixes(requests, s.workload.shared_prefix.tokens)
        if fp is not None and fp.state_bytes_per_seq and s.engine.prefix_caching:
            name = spec.model.params.get("name") or spec.model.model
            raise spec.error("engine.prefix_caching", f"not modelled for {name}'s recurrent layers: a cached "
                             "prefix's KV blocks do not hold the state after it (set prefix_caching: false)",
                             value=True)
        both = _with_draft(spec, fp) if fp is not None and spec.draft_model is not None else fp
        if both is not None and both.state_bytes_per_seq and s.speculative is not None:
            # a recurrent layer's state is one per sequence, advanced in place: a verification that rejects drafts
            # needs it back at the last kept token (vLLM keeps a state per draft position); not modelled
            key, whose = ("speculative", spec.model) if fp.state_bytes_per_seq else ("draft_model", spec.draft_model)
            name = whose.params.get("name") or whose.model  # type: ignore[union-attr]
            raise spec.error(key, f"not modelled for {name}'s recurrent layers: a verification that rejects drafts "
                             "needs the state as it was after the last kept token, one state a draft position, "
                             "which the state cache does not hold (leave speculative out)")
        n_blocks = blocks if blocks is not None else kv_blocks(both, spec.arch, s.engine)  # type: ignore[arg-type]
        if isinstance(n_blocks, str):
            if both is not fp and not isinstance(kv_blocks(fp, spec.arch, s.engine), str):  # the draft's doing
                raise spec.error("draft_model", f"with the draft model's weights and KV cache beside the model's: "
                                 f"{n_blocks}")
            block = block_too_big(both, spec.arch, s.engine)  # type: ignore[arg-type]
            if block is not None and spec.set_rank("engine.block_size") and not spec.set_after(
                    "model", "engine.block_size"):  # the weights leave room, but not for one block as given
                raise spec.at_line("engine.block_size", block)
            raise spec.error(_fit_key(spec, both), n_blocks)  # the sizes say what does not fit: no value to quote
        notes = [f"engine.max_model_len {s.engine.max_model_len:,}: {n}"
                 for n in longest_notes(spec.model, spec.arch, s.engine, fp)]
        if blocks is None and s.engine.kv_blocks is not None:
            notes += _kv_blocks_notes(spec, both)  # type: ignore[arg-type]
        fp = both
        _check_refusals(spec, requests, n_blocks, fp.image_positions if wants else 0, fp)  # type: ignore[union-attr]
        _check_iterations(spec, requests, n_blocks)
        swap, swap_state = _swap_s(spec, fp) if fp is not None and s.engine.preemption == "swap" else (0.0, 0.0)
        transfer = _transfer(spec, fp) if d is not None else None  # type: ignore[arg-type]
    return _Setup(requests, fp, n_blocks, images, (swap, swap_state), transfer,
                  [*spec.notes, *notes, *_span_notes(spec), *_trace_notes(spec, requests), *_prefix_notes(spec, requests),
                   *_attention_notes(spec)])


def _rate_notes(key: str, grid: Grid | None) -> list[str]:
    """One note per dtype-rate fallback of the iteration-cost grid's passes (``accelsim run``'s note on a dtype an
    arch lists no rate for: fp8 on an A100 runs at its bf16 rate; docs/configuration.md, "Per-dtype rates"), once
    for the whole grid: its op count, which is each pass's own, left out (probe p121 #1)."""
    if grid is None:
        return []
    return [f"{key}: op(s) of dtype {n.split(': ', 1)[0]} in the iteration-cost grid's passes: {n.split(': ', 1)[1]}"
            for n in grid.rate_notes]


def _attention_notes(spec: ServingSpec) -> list[str]:
    """A note for a served model (or draft model) whose attention runs unfused, as ``accelsim run``'s report gives
    one on every arch: serving runs fused attention unless the serving file's model mapping or a ``--set`` says
    ``attention: unfused`` (``config.serving.SERVING_ATTENTION``; a preset's own ``attention: unfused``, an eager
    transformers pass, is not taken), so the note names where that came from. Serving stacks run fused kernels on
    every arch the engine prices: vLLM's FlashAttention on GPUs, Pallas flash / ragged paged attention on TPUs."""
    notes = []
    for key, model in (("model", spec.model), ("draft_model", spec.draft_model)):
        if model is None or model.params.get("attention") != "unfused":
            continue
        notes.append(f"{key}.attention: unfused ({spec.written(f'{key}.attention')}): each prefill and decode step "
                     f"runs its attention as separate score, softmax and context ops over every query × key pair "
                     f"(the masked ones too); serving stacks run fused attention "
                     f"kernels (FlashAttention in vLLM on GPUs, Pallas flash or ragged paged attention on TPUs), "
                     f"which arch {spec.arch.name!r} models and serving runs by default: leave {key}.attention "
                     f"out, or --set {key}.attention=fused")
    return notes


def _kv_blocks_notes(spec: ServingSpec, fp: Footprint) -> list[str]:
    """A note where ``engine.kv_blocks`` is more than a chip's memory holds beside the weights (and the draft
    model's, and the recurrent states), by the rule that sizes the blocks when it is not given (:func:`.cost.kv_blocks`):
    the run goes on as given, pricing the cache as if it were in that memory (probe p74 #5: 1,000,000 blocks, 8.4 TB
    of KV on an 80 GiB H100, without a word)."""
    e, arch = spec.serve.engine, spec.arch
    fits = kv_blocks(fp, arch, e.model_copy(update={"kv_blocks": None}))
    capacity = arch.memory(arch.main_memory).usable  # capacity × hbm.usable_fraction (what the driver reports)
    limit = capacity * e.gpu_memory_fraction
    cache = e.kv_blocks * e.block_size * fp.kv_bytes_per_token  # type: ignore[operator]
    states = e.max_num_seqs * fp.state_bytes_per_seq
    need = cache + fp.weight_bytes + states
    if need <= limit:
        return []
    held = f" and {e.max_num_seqs} sequences' recurrent states ({states:,.0f} B)" if states else ""
    room = f"which holds {fits:,} blocks" if not isinstance(fits, str) else "which holds no block beside the weights"
    return [f"engine.kv_blocks {e.kv_blocks:,}: blocks of {e.block_size} tokens × {fp.kv_bytes_per_token:,.0f} B "
            f"make {cache:,.0f} B of KV cache; with the weights ({fp.weight_bytes:,.0f} B a chip){held} that is "
            f"{need - limit:,.0f} B more than gpu_memory_fraction {e.gpu_memory_fraction:g} of {arch.main_memory}'s "
            f"{capacity:,.0f} B, {room}: the cache cannot fit, and the run prices it as if it did"]


def _trace_notes(spec: ServingSpec, requests: list) -> list[str]:
    """A note where ``workload.requests`` asks for more requests than a trace holds: the run takes every row it has,
    fewer than asked (probe p212 #4: ``requests: 5`` on a 2-row trace ran 2 without a word)."""
    w = spec.serve.workload
    if spec.trace_file is None or w.conversation is not None or w.requests is None or len(requests) >= w.requests:
        return []
    rows = f"{len(requests):,} row{'s' if len(requests) != 1 else ''}"
    where = spec.written("workload.requests")  # none for a mapping's value (no line): requests has no default
    where = f" ({where})" if where != "the default" else ""
    return [f"workload.requests {w.requests:,}{where}: the trace holds only {rows}, "
            f"so the run has {len(requests):,} request{'s' if len(requests) != 1 else ''}, not {w.requests:,}"]


def _prefix_notes(spec: ServingSpec, requests: list) -> list[str]:
    """A note for a prefix setting the run accepts but does not use (probe p81 #4): a trace's ``prefix_group``
    column without ``workload.shared_prefix`` (no request shares any prompt tokens), and ``shared_prefix`` while
    ``engine.prefix_caching`` is off (every request computes its group's prefix again, as if it had none); and
    ``shared_prefix.tokens`` longer than some grouped prompts, which share all but their last token instead (probe
    p132 #4: 100,000 was cut to each prompt's length without a word). A
    conversation's turns cache their history through ``prefix_caching`` alone (no ``shared_prefix``): no note."""
    w, caching = spec.serve.workload, spec.serve.engine.prefix_caching
    if w.conversation is not None:
        return []
    if w.shared_prefix is None:
        grouped = sum(r.group >= 0 for r in requests)
        if not grouped:
            return []
        also = "" if caching else " and engine.prefix_caching: true"
        return [f"workload.arrival.trace: its prefix_group column ({grouped:,} requests grouped) is ignored without "
                f"workload.shared_prefix: no prompt tokens are shared; set workload.shared_prefix.tokens (the "
                f"prompt tokens a group shares){also}"]
    tokens = w.shared_prefix.tokens
    cut = [r.prefix for r in requests if r.group >= 0 and r.prefix < tokens]  # set_prefixes: all but the last
    notes = [] if not cut else [
        f"workload.shared_prefix.tokens: {len(cut):,} of {sum(r.group >= 0 for r in requests):,} grouped requests "
        f"have prompts of {tokens:,} tokens or fewer and share all but their last token instead ({min(cut):,} to "
        f"{max(cut):,} tokens)"]
    if not caching:
        notes.insert(0, f"workload.shared_prefix: inert while engine.prefix_caching is false: every request "
                        f"computes its group's {tokens:,} prefix tokens again; set engine.prefix_caching: true to "
                        f"reuse them")
    return notes


def _span_notes(spec: ServingSpec) -> list[str]:
    """A note where the replicas' chips together are more than the arch has: the arch is a server that holds one
    replica (whose tensor × expert parallelism must fit on it, :func:`_check_chips`), and the replicas beyond it run
    on copies of it behind the router, as the KV transfer of :func:`_transfer` prices them across nodes (probe p70
    #5). A one-chip arch (h100) is one replica's GPU by definition: no note."""
    replicas = spec.serve.replica_count
    each = replica_chips(spec.model.params)
    total = replicas * each
    chips = spec.arch.chips
    if chips <= 1 or total <= chips:
        return []
    copies = -(-total // chips)
    return [f"replicas: {replicas} × {each} chip{'s' if each > 1 else ''} a replica (tensor_parallel × "
            f"expert_parallel) = {total:,} chips, more than arch {spec.arch.name!r} has (arch.chips={chips}): the "
            f"replicas span {copies:,} copies of it, each replica within one; energy and power count all "
            f"{total:,} chips"]


def _fit_key(spec: ServingSpec, fp: Footprint) -> str:
    """The key a replica's memory that holds no KV block is reported at: ``engine.gpu_memory_fraction``, the limit,
    where the whole memory would hold one and the fraction was set more recently than the model (a ``--set`` over
    the file, or a later ``--set``/``--sweep`` item than the last of the model's: ``model.model=...`` sets the
    model; a tie keeps the model, as a rule between two keys does elsewhere), else the model, whose weights alone
    leave no room."""
    key = "engine.gpu_memory_fraction"
    whole = kv_blocks(fp, spec.arch, spec.serve.engine.model_copy(update={"gpu_memory_fraction": 1.0}))
    return key if not isinstance(whole, str) and spec.set_after(key, "model") else "model"


def _check_refusals(spec: ServingSpec, requests: list[Request], blocks: int, image_positions: int,
                    fp: Footprint | None = None) -> None:
    """A workload none of whose requests can ever be served is a one-line error at the limit that refuses the
    shortest one it can draw, not a report of requests all refused at arrival (:func:`_admissible`): fixed lengths
    (or a uniform's low, ...: :func:`.requests.fewest`) longer than ``engine.max_model_len`` or than a replica's
    KV blocks, or a trace whose every request is. Lengths of which some fit keep the refusal of each one that does
    not, even when every one drawn was refused."""
    e, w = spec.serve.engine, spec.serve.workload
    least = [fewest(w.prompt_tokens), fewest(w.output_tokens), fewest(w.images) if w.images is not None else 0]
    if any(x is None for x in least):  # a trace's lengths: its requests are all it draws
        arriving = [r for r in requests if not math.isnan(r.arrival)]
        if not arriving or _admissible(arriving, spec, blocks, fp)[0]:
            return
        short = min(arriving, key=lambda r: r.prompt + r.output)
        prompt, output, which = short.prompt, short.output, "the shortest request of the trace"
    else:
        prompt, output = least[0] + least[2] * image_positions, least[1]  # type: ignore[operator]
        which = "every request" if w.prompt_tokens.dist == w.output_tokens.dist == "fixed" else \
            "the shortest request the workload can draw"
    total = prompt + output
    need = _peak_blocks(spec, fp, total)
    if total <= e.max_model_len and need <= blocks:
        return
    length = f"{prompt:,} prompt + {output:,} output tokens = {total:,}"
    kept = f"KV for {total - 1:,} (the last token sampled is never fed back): "
    if total > e.max_model_len:
        lengths = _length_key(spec, prompt, output)
        limit = f"engine.max_model_len {e.max_model_len:,} ({spec.written('engine.max_model_len')})"
        if spec.set_after(lengths, "engine.max_model_len"):  # the lengths were set last: at their own line
            raise spec.at_line(lengths, f"no request can be served: {which} has {length}, more than {limit} "
                               f"(shorten workload.prompt_tokens or output_tokens, or raise max_model_len)")
        raise spec.at_line("engine.max_model_len", f"no request can be served: {which} has {length} ({lengths}, "
                           f"{spec.written(lengths)}), more than max_model_len (raise it, or shorten "
                           f"workload.prompt_tokens or output_tokens)", value=e.max_model_len)
    # with expert parallelism a request's blocks are on one rank, whose ``blocks`` the replica holds EP times (probe
    # p258 #3: "a replica's 50" beside a report of 400 blocks per replica)
    ranks = ep_ranks(spec.model.params)
    whose = "a replica's" if ranks == 1 else "one expert-parallel rank's"
    held = "" if ranks == 1 else f" (the replica holds {ranks} × {blocks:,} = {ranks * blocks:,})"
    if e.kv_blocks is not None:
        raise spec.error("engine.kv_blocks", f"no request can be served: {which} has {length}, {kept}{need:,} "
                         f"blocks of {e.block_size}, more than {whose} {blocks:,}{held}", value=e.kv_blocks)
    raise spec.error("engine.gpu_memory_fraction", f"no request can be served: {which} has {length}, {kept}{need:,} "
                     f"KV blocks of {e.block_size}, more than the {blocks:,} {whose} memory leaves after the "
                     f"weights{held} ({'raise it, ' if e.gpu_memory_fraction < 1 else ''}use more tensor parallelism, "
                     f"or shorten the requests)", value=e.gpu_memory_fraction)


def _length_key(spec: ServingSpec, prompt: int, output: int) -> str:
    """The key that set the requests' lengths (``prompt`` + ``output`` tokens), for an error that they are too long:
    a trace's ``workload.arrival``, else whichever of ``workload.prompt_tokens`` and ``output_tokens`` was set more
    recently (a tie: the one giving more of the tokens; the prompt's when equal)."""
    if spec.serve.workload.arrival.trace is not None:
        return "workload.arrival"
    keys = ("workload.prompt_tokens", "workload.output_tokens")
    if spec.set_after(keys[1], keys[0]) or (not spec.set_after(keys[0], keys[1]) and output > prompt):
        return keys[1]
    return keys[0]


def iteration_floor(spec: ServingSpec, requests: list[Request], blocks: int) -> tuple[int, int, int]:
    """The fewest engine iterations a run of ``requests`` takes, all replicas together, with the output tokens they
    generate and the most an iteration samples: every token is sampled at the end of an iteration in whose batch its
    request ran, and a batch holds at most ``max_num_seqs`` requests, each sampling one token and its accepted drafts
    (``speculative.num_tokens`` at most), and at most ``max_num_batched_tokens`` tokens, one at least for each token
    sampled; with ``expert_parallel`` EP each of a replica's EP ranks is an engine of its own with those limits, and
    the ranks step together, so a replica's iteration samples EP times as many (probe p262 #2: EP 8, max_num_seqs
    16, 100,000 tokens took 802 iterations, beside a floor of 6,250 that refused a budget holding them). Counted:
    the requests admitted (:func:`_admissible`) and their conversations' turns up to one refused; preemptions,
    chunked prefills and arrival gaps only add iterations."""
    e, sp = spec.serve.engine, spec.serve.speculative
    runnable, _ = _admissible(requests, spec, blocks)
    tokens = 0
    for r in runnable:
        turn: Request | None = r
        while turn is not None and not turn.refused:
            tokens += turn.output
            turn = turn.follow
    ranks = ep_ranks(spec.model.params)
    per = ranks * min(e.max_num_batched_tokens, e.max_num_seqs * (1 + (sp.num_tokens if sp is not None else 0)))
    return -(-tokens // per), tokens, per


def _check_iterations(spec: ServingSpec, requests: list[Request], blocks: int) -> None:
    """A run whose iterations cannot all be kept in options.memory_budget (:data:`.engine.ITERATION_BYTES` each) is
    a one-line error before it starts, not a MemoryError hours into it."""
    floor, tokens, per = iteration_floor(spec, requests, blocks)
    budget = spec.options.memory_budget or default_memory_budget()
    if floor * ITERATION_BYTES <= budget:
        return
    e, sp = spec.serve.engine, spec.serve.speculative
    ranks = ep_ranks(spec.model.params)
    if per == ranks * e.max_num_batched_tokens:
        most, key = f"engine.max_num_batched_tokens = {e.max_num_batched_tokens:,}", "max_num_batched_tokens"
    else:
        drafts = f" and {sp.num_tokens} speculative" if sp is not None else ""
        most, key = f"1{drafts} a sequence, engine.max_num_seqs = {e.max_num_seqs:,}", "max_num_seqs"
    if ranks > 1:  # each expert-parallel rank is an engine of its own, the ranks stepping together
        most += f", on each of expert_parallel = {ranks} ranks stepping together"
    # at the options' line when the file gave the budget, at --set when the command line did, else at the workload's
    set_ = spec.options.memory_budget is not None
    default = "" if set_ else ", the default: half of this machine's memory"
    raise spec.error("options.memory_budget" if set_ else "workload",
                f"{len(requests):,} requests generate {tokens:,} output tokens, at most {per:,} an "
                f"{'engine ' if ranks == 1 else ''}iteration ({most}): at least {floor:,} iterations, which need "
                f"{floor * ITERATION_BYTES:,} B at ~{ITERATION_BYTES} B each, more than options.memory_budget "
                f"({budget:,} B{default}) holds; raise options.memory_budget to at least "
                f"{floor * ITERATION_BYTES:,} B, lower workload.requests (or duration) or workload.output_tokens, "
                f"or raise engine.{key}")


def _check_chips(spec: ServingSpec, where: str, params: dict, whose: str = "", suggest: bool = False) -> None:
    """The chips a model's tensor × expert parallelism needs (expert-parallel chips each hold tokens of their own,
    tensor_parallel apart: builders/moe.py) fit on the arch, which has an interconnect; with ``suggest``, the error
    says how the same chips could hold them (:func:`fitting_arch`), where they can."""
    tp, ep = (int(params.get(k) or 1) for k in ("tensor_parallel", "expert_parallel"))
    n = tp * ep
    if n > 1 and (spec.arch.chips < n or spec.arch.interconnect is None):
        key = "expert_parallel" if ep > 1 else "tensor_parallel"
        grid = f" (tensor_parallel × expert_parallel = {tp} × {ep})" if tp > 1 and ep > 1 else ""
        hint = EP_HINT if tp > 1 and ep > 1 else ""
        other = fitting_arch(n, spec.arch) if suggest else None
        example = f"; e.g. {other}" if other else ""
        raise spec.error(f"{where}.{key}", f"{n} chips{whose}{grid}{hint} need an arch with at least {n} chips and an "
                         f"interconnect ({spec.arch.name!r} has {spec.arch.chips}{example})", value=params[key])


def fitting_arch(chips: int, failed: Arch) -> str | None:
    """How to hold a replica of ``chips`` chips on the hardware of ``failed``, the arch that does not: a shipped
    multi-chip preset of its family (one with an interconnect whose ``base:`` is ``failed``, or ``failed`` itself
    when it has an interconnect) with at least that many chips, the fewest first ("arch: dgx-h100" for h100), else
    more chips on that family's multi-chip arch where the arch is valid with them (:func:`_holds`: "--set
    arch.chips=16" on dgx-h100, "arch: dgx-h100 with --set arch.chips=16" for h100); None where the family has no
    interconnect (tpu-v4, l40s, gemmini) or its interconnect's shape or links fix the chips (tpu-v5e-8's 2x4
    torus, mi300x-8's full mesh of 7 links a chip). Never another
    chip's preset: a TPU pod suggested for an H100 system changes the hardware studied (probe p138 #2), and never
    ``failed`` itself (probe p121 #2)."""
    family = []
    for name in list_presets("arch"):
        if name == failed.name or _preset_base(name) != failed.name:
            continue
        try:
            arch = load_arch(name)
        except AccelsimError:  # a broken preset of a user's own folder: not one to suggest
            continue
        if arch.interconnect is not None:
            family.append((arch.chips, name))
    fits = [name for n, name in sorted(family) if n >= chips]
    if fits:
        return f"arch: {fits[0]}"
    if failed.interconnect is not None:
        return f"--set arch.chips={chips}" if _holds(failed.name, chips) else None
    grown = [name for _, name in sorted(family) if _holds(name, chips)]
    return f"arch: {grown[0]} with --set arch.chips={chips}" if grown else None


def _holds(name: str, chips: int) -> bool:
    """Whether arch preset ``name`` with ``chips: chips`` is a valid arch (a switch takes any count; a torus's
    shape or a full mesh's links per chip do not grow with ``--set arch.chips`` alone)."""
    try:
        load_arch({"base": name, "chips": chips})
    except AccelsimError:
        return False
    return True


def _preset_base(name: str) -> str | None:
    """The ``base:`` of arch preset ``name`` (the preset it changes: dgx-h100's is h100), None without one."""
    path = find_preset("arch", name)
    try:
        data = load_yaml(path)[0] if path is not None else None
    except AccelsimError:
        return None
    base = data.get("base") if isinstance(data, dict) else None
    return base if isinstance(base, str) else None


def _shape_free(params: dict) -> dict:
    """A served model's parameters without the pass shape the iteration grid sets."""
    return {k: v for k, v in params.items() if k not in SHAPE_PARAMS}


def _check_draft(spec: ServingSpec) -> None:
    """A draft model runs as the model does: inference on the replica's chips."""
    params = spec.draft_model.params  # type: ignore[union-attr]
    _check_chips(spec, "draft_model", params)
    if params.get("mode", "inference") != "inference" or params.get("sequence_parallel") or params.get("images") \
            or int(params.get("context_parallel") or 1) > 1:
        raise spec.error("draft_model", "a draft model runs inference passes of text: no training mode, "
                         "sequence_parallel, context_parallel or images")


def shown_config(s: ServeConfig, arch: Arch) -> dict:
    """report.json's ``config``: the serving settings (``replicas`` with disaggregation the prefill and decode
    replicas' sum), less vLLM's GPU-only engine settings on an arch without
    launch times (no kernel launch, graph launch or dispatch: a TPU, an NPU), where neither can act:
    ``cuda_graphs`` (nothing to capture) and ``custom_all_reduce`` (a CUDA kernel over NVLink or a full mesh,
    :data:`accelsim.cost.collective.CUSTOM_TOPOLOGIES`; a TPU's torus runs XLA's collectives)."""
    out = s.model_dump(mode="json")
    out["replicas"] = s.replica_count  # with disaggregation their sum (docs/serving.md; probe p74 #4: it said 1 of 3)
    if not (arch.kernel_launch or arch.graph_launch or arch.kernel_dispatch):
        for key in ("cuda_graphs", "custom_all_reduce"):
            out["engine"].pop(key, None)
    return out


def _model_info(model: WorkloadSpec, fp: Footprint | None) -> dict:
    """report.json's ``model``: as ``accelsim run``'s ``workload``, the built model's ``name`` (a Hugging Face
    config's ``_name_or_path`` or folder) and ``architecture`` (a Hugging Face model's) beside its builder and
    params (without a footprint, the test hook's given blocks and cost: the builder and params only)."""
    named = {"name": fp.name} if fp is not None and fp.name else {}
    architecture = {"architecture": fp.architecture} if fp is not None and fp.architecture else {}
    return {**named, "model": model.model, **architecture, "params": _shape_free(model.params)}


def check(spec: ServingSpec) -> None:
    """Raise the one-line error :func:`serve` would raise for ``spec`` before it simulates anything (the requests,
    the trace, the model's fit in memory, swap and transfer links), without simulating: ``--sweep`` checks every
    point first, so that no point fails after others have run."""
    _prepare(spec)


def serve(spec: ServingSpec, *, cost: IterationCost | None = None, blocks: int | None = None,
          progress: Progress | None = None, encode: EncoderCost | None = None) -> ServeResult:
    """Run the serving file ``spec``. ``cost`` (prefill tokens, decodes, their KV sum → seconds), ``blocks``
    (KV blocks per replica) and ``encode`` (images → the image encoder's seconds) replace the accelerator model's
    (a test hook); otherwise the grid is simulated."""
    s = spec.serve
    d = s.disaggregation
    setup = _prepare(spec, blocks)
    requests, fp, n_blocks, images, transfer = setup.requests, setup.fp, setup.blocks, setup.images, setup.transfer
    swap, swap_state = setup.swap
    with _shapes(spec, "model"):
        cross = fp.cross_blocks(s.engine.block_size) * s.engine.block_size if fp is not None else 0
        grid = None if cost is not None else build_grid(spec.model, spec.arch, spec.options, s.engine, s.cost,
                                                        n_blocks * s.engine.block_size, progress,
                                                        fp.image_positions if images else 0,  # type: ignore[union-attr]
                                                        seq_tokens=cross)
    # expert parallelism: the replica is EP ranks with sequences of their own (attention data-parallel), each
    # with the engine's limits and its chip's KV blocks (Replica's ranks: a request runs on one); the ranks step
    # together, an iteration priced as the grid's pass at ⌈·/EP⌉ of the replica's batch (rank_share)
    ranks = ep_ranks(spec.model.params)
    price = rank_share(cost or grid.iteration, ranks)  # type: ignore[union-attr]
    assert price is not None
    if encode is None and grid is not None and images:
        encode = grid.encoder
    meter = Meter(grid.joules() if grid is not None and grid.has_energy else None, price, encode, ranks)
    # a model whose every request runs its own encoder (Whisper's audio), priced by the requests whose prefill starts
    per_request = grid.requests if grid is not None and grid.request_s is not None else None
    sp = s.speculative
    draft_grid = None
    if sp is not None and spec.draft_model is not None and cost is None:
        with _shapes(spec, "draft_model"):
            draft_grid = build_grid(spec.draft_model, spec.arch, spec.options, s.engine, s.cost,
                                    n_blocks * s.engine.block_size, progress)
    draft_price = rank_share(draft_cost(draft_grid), ranks) if draft_grid is not None else None
    draft_energy = rank_share(draft_cost(draft_grid.joules()), ranks) \
        if draft_grid is not None and draft_grid.has_energy else None

    image_tokens = fp.image_positions if images and fp is not None else 0
    # an encoder-decoder's audio: the encoder positions its cross K/V cover (cross bytes / self bytes a position, as
    # Footprint.cross_blocks takes them: Whisper's 18,432,000 / 12,288 = 1500, vLLM's get_num_audio_tokens)
    audio_tokens = round(fp.cross_bytes_per_seq / fp.kv_bytes_per_token) \
        if per_request and fp is not None and fp.cross_bytes_per_seq and fp.kv_bytes_per_token > 0 else 0
    # vLLM's encoder budget (compute_mm_encoder_budget): max_num_encoder_input_tokens (default
    # max_num_batched_tokens), at least one image's or one audio's; it bounds images and audio alike
    encoder_budget = max(s.engine.max_num_encoder_input_tokens or s.engine.max_num_batched_tokens, image_tokens,
                         audio_tokens) if image_tokens or audio_tokens else 0

    def engine(i: int, role: str = "both") -> Replica:
        spec_kw = {} if sp is None else {"spec_tokens": sp.num_tokens, "draft": meter.draft_of(i, draft_price, draft_energy),
                                         "accept": Acceptor(sp.acceptance_rate, s.workload.seed, i)}
        return Replica(i, s.engine, n_blocks, meter.of(i), swap, role, swap_s_per_state=swap_state,
                       encode=meter.encoder_of(i), image_tokens=image_tokens, encoder_budget=encoder_budget,
                       held=_held(spec, fp), scores=fp.scores if fp is not None and fp.windows else None,
                       encode_requests=meter.encoder_of(i, per_request) if per_request else None,
                       audio_tokens=audio_tokens, ranks=ranks, **spec_kw)

    runnable, refused = _admissible(requests, spec, n_blocks, fp)
    talk = s.workload.conversation
    if d is None:
        replicas = [engine(i) for i in range(s.replicas)]
        run_loop(runnable, replicas, ROUTERS[s.router](), progress, think_s=talk.think_time if talk else 0.0)
    else:
        replicas = [engine(i, "prefill" if i < d.prefill_replicas else "decode")
                    for i in range(s.replica_count)]
        run_loop(runnable, replicas[:d.prefill_replicas], ROUTERS[s.router](), progress,
                 decode=replicas[d.prefill_replicas:], decode_router=ROUTERS[s.router](),
                 transfer_s=transfer)
    if talk is not None:
        requests, runnable, refused = _issued(requests)
    report = {
        "accelsim_version": __version__,
        "name": spec.name,
        "kind": "serving",
        "model": _model_info(spec.model, fp),
        "arch": spec.arch.name,
        "config": shown_config(s, spec.arch),
        # layer_samples as the run took it, default or not, as accelsim run's serving report (probe p49 #5)
        "options": {**recorded(spec.options), "layer_samples": spec.options.layer_samples},
        "kv_blocks_per_replica": n_blocks * ranks,
        "weight_bytes_per_chip": fp.weight_bytes if fp else None,
        "kv_bytes_per_token": fp.kv_bytes_per_token if fp else None,
        "state_bytes_per_seq": fp.state_bytes_per_seq if fp else None,
        "iteration_cost": grid.to_dict() if grid is not None else {"simulations": 0},
        "notes": [*setup.notes, *_rate_notes("model", grid), *_rate_notes("draft_model", draft_grid)],
        "serving": serving_summary(runnable, refused, replicas, s.slo, disaggregated=s.disaggregation is not None),
    }
    # as accelsim run's serving.layer_samples: the layer counts the grid's passes were simulated with, when sampled
    report["serving"]["layer_samples"] = grid.layer_samples if grid is not None else None
    report["serving"]["kv_transfer"] = transfer.summary() if transfer is not None else None
    report["serving"]["conversations"] = conversation_summary(requests) if talk is not None else None
    report["serving"]["speculative"] = None
    if sp is not None:
        report["serving"]["speculative"] = speculative_summary(sp.method, sp.num_tokens, sp.acceptance_rate,
                                                               replicas, runnable, draft_grid)
        if spec.draft_model is not None:
            report["draft_model"] = {"model": spec.draft_model.model, "params": _shape_free(spec.draft_model.params)}
    accounted = meter.account(spec, replicas, report["serving"], runnable)
    report["notes"] = [*report["notes"], *accounted.pop("notes")]
    report.update(accounted)
    return ServeResult(report, sorted(requests, key=lambda r: (r.arrival, r.id)), replicas, spec.output)


__all__ = ["FILES", "KvTransfer", "Meter", "ServeResult", "check", "ep_ranks", "iteration_floor", "rank_share", "replica_chips", "replot", "serve", "write_csv"]
