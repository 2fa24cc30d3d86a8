"""The serving report: latency distributions, throughput, goodput, KV-cache use, the running batch and waiting
queue, preemptions and per-replica load,
from the finished requests and each replica's iteration samples.

Definitions (every time in seconds): TTFT = first token − arrival; TPOT = (finish − first token) / (output − 1)
for requests of more than one output token; ITL = the gaps between a request's consecutive tokens (all of them,
pooled); end-to-end = finish − arrival. Percentiles are numpy's linear ones.

The *arrival window* of the n requests that arrived (refused ones too) over a span s (first to last arrival) is n mean gaps, s·n/(n − 1): the
last request's own gap counts, as the first one's does (n constant-rate arrivals 1/r apart: n/r). The offered load
is n per arrival window, (n − 1)/s (r at a constant rate r; none when s is 0). Throughput is over the *makespan*,
from the first arrival to the last finish or the end of the arrival window, whichever is later, so that it never
exceeds the offered load (4 requests 5 s apart, each done in 1 s: 4 in 20 s, 0.2 requests/s, not 4 in 16 s).

A request is good when it finished and meets every SLO the file gives; goodput is good requests per second of
makespan, and its fraction is of every request that arrived: a refused or unfinished request misses the SLOs (as
Vidur's and DistServe's SLO attainment count every request). The run is *saturated* when the mean TTFT of the last
fifth of the requests (by arrival) is over three times that of the first fifth and over 1 s: the queue grew while
requests arrived. With disaggregation the same rule also judges, over the requests handed off, the time from arrival
to the first scheduling on the decode replica (the decode replicas' queue, which TTFT does not see); the report's
``saturated_reason`` says which queue grew (or how many requests were left unfinished). ``queue_s`` is arrival to first
scheduling (with disaggregation: on the prefill replica); ``decode_queue_s``, with disaggregation, is a handed-off
request's wait on its decode replica, from its KV's arrival there to its first decode scheduling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..config.serving import Slo
from ..report.fmt import model_name
from ..units import format_time
from .engine import Replica
from .requests import Request

SATURATION_RATIO = 3.0
SATURATION_TTFT_S = 1.0
CSV_COLUMNS = ("id", "replica", "arrival_s", "scheduled_s", "first_token_s", "finish_s", "prompt_tokens",
               "output_tokens", "cached_tokens", "preemptions", "ttft_s", "tpot_s", "e2e_s", "images", "conversation",
               "turn")


def stats(values: Sequence[float] | np.ndarray) -> dict[str, float | None]:
    """mean, p50, p90 and p99 of ``values`` (None when there are none)."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {"mean": None, "p50": None, "p90": None, "p99": None}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"mean": float(a.mean()), "p50": float(p50), "p90": float(p90), "p99": float(p99)}


def weighted_stats(values: np.ndarray, counts: np.ndarray) -> dict[str, float | None]:
    """:func:`stats` of the list holding each of ``values`` ``counts`` times, without building it: the same linear
    percentiles (position h = (N − 1)·p/100 in the sorted list, interpolated between its neighbours)."""
    if values.size == 0 or counts.sum() == 0:
        return stats([])
    order = np.argsort(values, kind="stable")
    v, c = values[order], np.cumsum(counts[order])
    n = int(c[-1])

    def at(i: int) -> float:  # the i-th (0-based) element of the sorted, expanded list
        return float(v[np.searchsorted(c, i + 1)])

    def pct(p: float) -> float:
        h = (n - 1) * p / 100
        lo = math.floor(h)
        return at(lo) + (h - lo) * (at(min(lo + 1, n - 1)) - at(lo))

    return {"mean": float(np.dot(values, counts) / n), "p50": pct(50), "p90": pct(90), "p99": pct(99)}


def tpot(r: Request) -> float | None:
    return (r.finish - r.first_token) / (r.output - 1) if r.output > 1 else None


def good(r: Request, slo: Slo) -> bool:
    t = tpot(r)
    return ((slo.ttft is None or r.first_token - r.arrival <= slo.ttft)
            and (slo.tpot is None or t is None or t <= slo.tpot)
            and (slo.e2e is None or r.finish - r.arrival <= slo.e2e))


def grew(waits: Sequence[float]) -> bool:
    """Whether the mean of the last fifth of ``waits`` (by arrival) is over :data:`SATURATION_RATIO` times that of
    the first fifth and over :data:`SATURATION_TTFT_S` (False when there are none)."""
    if not waits:
        return False
    fifth = max(len(waits) // 5, 1)
    first, last = float(np.mean(waits[:fifth])), float(np.mean(waits[-fifth:]))
    return last > SATURATION_RATIO * first and last > SATURATION_TTFT_S


def saturation(requests: Sequence[Request]) -> str | None:
    """Why the run is saturated (see the module docstring), or None when it is not: requests left unfinished (they
    count as waiting until the end), the queue before the first token (TTFT; with disaggregation the prefill
    replicas'), or, with disaggregation, the decode replicas' queue, which TTFT does not see (the first token is the
    prefill replica's): the time from arrival to a handed-off request's first scheduling on its decode replica,
    judged by the same rule (probe p74 #1; named since probe p81 #6)."""
    done = [r for r in requests if not math.isnan(r.first_token)]
    if len(done) < len(requests) or not done:
        left = len(requests) - len(done)
        return f"{left:,} of {len(requests):,} requests left unfinished" if requests else None
    handed = [r.decoding - r.arrival for r in done if not math.isnan(r.decoding)]
    where = "the prefill replicas' queue" if handed else "the queue"
    for waits, what in (([r.first_token - r.arrival for r in done], f"{where} grew: TTFT"),
                        (handed, "the decode replicas' queue grew: time from arrival to first decode scheduling")):
        if grew(waits):
            fifth = max(len(waits) // 5, 1)
            first, last = float(np.mean(waits[:fifth])), float(np.mean(waits[-fifth:]))
            return (f"{what}, mean {format_time(first)} over the first fifth of the requests, {format_time(last)} "
                    f"over the last")
    return None


def saturated(requests: Sequence[Request]) -> bool:
    """Whether the run is saturated (:func:`saturation`)."""
    return saturation(requests) is not None


def decode_waits(requests: Sequence[Request]) -> list[float]:
    """Each finished, handed-off request's wait on its decode replica (disaggregation): from its KV's arrival there
    to its first decode scheduling."""
    return [r.decoding - r.kv_arrived for r in requests
            if not math.isnan(r.finish) and not math.isnan(r.decoding) and not math.isnan(r.kv_arrived)]


def kv_use(replicas: Sequence[Replica]) -> dict[str, float]:
    """Time-weighted mean and the largest fraction of KV blocks in use, over every replica's iterations."""
    weighted = total = peak = 0.0
    for r in replicas:
        for seconds, used in zip(r.samples.seconds, r.samples.used, strict=True):
            frac = used / r.kv_total
            weighted += frac * seconds
            total += seconds
            peak = max(peak, frac)
    return {"mean": weighted / total if total else 0.0, "max": peak}


def batch_use(replicas: Sequence[Replica]) -> dict[str, dict[str, float | int]]:
    """The running batch and the waiting queue over every iteration of every replica (not timeseries.csv's sample):
    ``running_sequences`` (the sequences an iteration runs, vLLM's ``num_requests_running``) and
    ``waiting_requests`` (those left queued after its scheduling, ``num_requests_waiting``), each as its mean
    weighted by iteration time and its largest value in one replica (0 without iterations)."""
    seconds = np.concatenate([np.frombuffer(r.samples.seconds, dtype=np.float64) for r in replicas] or [np.zeros(0)])
    total = float(seconds.sum())
    out: dict[str, dict[str, float | int]] = {}
    for key, column in (("running_sequences", "running"), ("waiting_requests", "waiting")):
        counts = np.concatenate([np.frombuffer(getattr(r.samples, column), dtype=np.int64) for r in replicas]
                                or [np.zeros(0, dtype=np.int64)])
        out[key] = {"mean": float(counts @ seconds) / total if total > 0 else 0.0,
                    "max": int(counts.max()) if len(counts) else 0}
    return out


def replica_rows(replicas: Sequence[Replica], requests: Sequence[Request], makespan: float) -> list[dict]:
    """Per replica: the requests it served, those it finished and the output tokens it generated. With
    disaggregation a request handed off is served by two replicas: its prefill replica generated its first token,
    its decode replica the rest and finished it; so the rows' finished requests and output tokens add up to the
    run's (each prefill replica's requests add up to the run's, the decode replicas' to those handed off)."""
    served = {r.index: 0 for r in replicas}
    finished = dict(served)
    tokens = dict(served)
    for q in requests:
        done = not math.isnan(q.finish)
        if q.decode_replica >= 0:  # prefilled on q.replica (its first token), decoded on q.decode_replica
            first = min(q.generated, 1)
            served[q.replica] += 1
            tokens[q.replica] += first
            served[q.decode_replica] += 1
            tokens[q.decode_replica] += q.generated - first
            finished[q.decode_replica] += done
        elif q.replica >= 0:
            served[q.replica] += 1
            tokens[q.replica] += q.generated
            finished[q.replica] += done
    rows = []
    for r in replicas:
        batch = r.samples.tokens
        rows.append({"replica": r.index, "role": r.role, "requests": served[r.index],
                     "finished": finished[r.index],
                     "output_tokens": tokens[r.index], "iterations": r.iterations,
                     "busy_fraction": r.busy_s / makespan if makespan else 0.0,
                     "mean_batch_tokens": float(np.mean(batch)) if len(batch) else 0.0,
                     "preemptions": r.preemptions, "kv_blocks": r.kv_total})
    return rows


def serving_summary(requests: Sequence[Request], rejected: Sequence[Request], replicas: Sequence[Replica],
                    slo: Slo, *, disaggregated: bool = False) -> dict:
    """The report's ``serving`` object (see the module docstring); ``decode_queue_s`` is null unless
    ``disaggregated``."""
    fin = [r for r in requests if not math.isnan(r.finish)]
    # every arrival counts, a refused request's too: it was offered, and its gap is part of the traffic
    arrivals = [r.arrival for r in (*requests, *rejected) if not math.isnan(r.arrival)]
    start = min(arrivals, default=0.0)
    span = max(arrivals, default=0.0) - start
    offered = (len(arrivals) - 1) / span if span > 0 else None  # n per arrival window of s·n/(n − 1)
    window = span * len(arrivals) / (len(arrivals) - 1) if offered else 0.0
    end = max(max((r.finish for r in fin), default=start), start + window)
    makespan = end - start

    def rate(x: float) -> float | None:
        return x / makespan if makespan > 0 else None

    n_good = sum(1 for r in fin if good(r, slo))
    everyone = len(requests) + len(rejected)  # a refused or unfinished request misses the SLOs
    return {
        "requests": len(requests) + len(rejected),
        "finished": len(fin),
        "unfinished": len(requests) - len(fin),
        "rejected": len(rejected),
        "makespan_s": makespan,
        "offered_requests_per_s": offered,
        "ttft_s": stats([r.first_token - r.arrival for r in fin]),
        "tpot_s": stats([t for r in fin if (t := tpot(r)) is not None]),
        "itl_s": weighted_stats(np.concatenate([np.frombuffer(r.itl_s, dtype=np.float64) for r in replicas]),
                                np.concatenate([np.frombuffer(r.itl_n, dtype=np.int64) for r in replicas])),
        "e2e_s": stats([r.finish - r.arrival for r in fin]),
        "queue_s": stats([r.scheduled - r.arrival for r in fin]),
        "decode_queue_s": stats(decode_waits(requests)) if disaggregated else None,
        "requests_per_s": rate(len(fin)),
        "input_tokens_per_s": rate(sum(r.prompt for r in fin)),
        "output_tokens_per_s": rate(sum(r.output for r in fin)),
        "goodput": {"slo": {k: v for k, v in slo.model_dump().items() if v is not None},
                    "good_requests": n_good, "requests_per_s": rate(n_good),
                    "fraction": n_good / everyone if everyone else None},
        "preemptions": sum(r.preemptions for r in replicas),
        "cached_prefix_tokens": sum(r.cached_tokens for r in fin),
        "kv_cache_utilization": kv_use(replicas),
        **batch_use(replicas),
        "saturated": (why := saturation(requests)) is not None,
        "saturated_reason": why,
        "images": image_summary(requests, replicas),
        "replicas": replica_rows(replicas, requests, makespan),
    }


def image_summary(requests: Sequence[Request], replicas: Sequence[Replica]) -> dict | None:
    """The report's ``serving.images`` (None when no request has an image): requests with images, the images drawn
    and their prompt tokens, the encoder passes' images (a request preempted with ``recompute`` encodes its images
    again) and seconds, and the encoder's share of the replicas' busy time."""
    drawn = [r for r in requests if r.images]
    if not drawn:
        return None
    busy = sum(r.busy_s for r in replicas)
    encoder = sum(r.encoder_s for r in replicas)
    return {"requests": len(drawn), "images": sum(r.images for r in drawn),
            "encoded_images": sum(r.encoded_images for r in replicas), "encoder_s": encoder,
            "encoder_busy_fraction": encoder / busy if busy else 0.0}


def conversation_summary(requests: Sequence[Request]) -> dict:
    """The report's ``serving.conversations``: conversations started, turns that arrived, the TTFT of first turns
    and of later ones (whose prompts start with the conversation so far), and the share of the later turns'
    history that was served from the prefix cache."""
    fin = [r for r in requests if not math.isnan(r.finish)]
    later = [r for r in requests if r.turn > 0 and not r.refused]
    history = sum(r.prefix for r in later)
    return {"conversations": len({r.conversation for r in requests}), "turns": len(requests),
            "mean_turns": len(requests) / len({r.conversation for r in requests}) if requests else None,
            "first_turn_ttft_s": stats([r.first_token - r.arrival for r in fin if r.turn == 0]),
            "later_turn_ttft_s": stats([r.first_token - r.arrival for r in fin if r.turn > 0]),
            "history_tokens": history, "cached_history_tokens": sum(min(r.cached_tokens, r.prefix) for r in later),
            "cached_history_fraction": sum(min(r.cached_tokens, r.prefix) for r in later) / history if history
            else None}


def _slo_text(slo: dict, share: str) -> str:
    """"83.0% meet TTFT <= 500ms, TPOT <= 50ms" (of every request, refused and unfinished ones too), or, with no SLO in
    the file, that every finished request counts."""
    if not slo:
        return "no SLO set: every finished request counts"
    names = {"ttft": "TTFT", "tpot": "TPOT", "e2e": "end-to-end"}
    return f"{share} meet " + ", ".join(f"{names.get(k, k)} <= {format_time(v)}" for k, v in slo.items())


def request_rows(requests: Sequence[Request]) -> list[list]:
    """The rows of requests.csv (:data:`CSV_COLUMNS`), in arrival order; empty cells for what never happened."""
    def num(x: float | None) -> str:
        return "" if x is None or math.isnan(x) else repr(round(x, 9))

    return [[r.id, "" if r.replica < 0 else r.replica, num(r.arrival), num(r.scheduled), num(r.first_token), num(r.finish), r.prompt,
             r.output, r.cached_tokens, r.preemptions, num(r.first_token - r.arrival), num(tpot(r)),
             num(r.finish - r.arrival), r.images, "" if r.conversation < 0 else r.conversation,
             "" if r.conversation < 0 else r.turn] for r in requests]


def picked(n: int, limit: int) -> range | list[int]:
    """Indices of ``limit`` of ``n`` iterations evenly spread from the first to the last (each i·(n − 1)/(limit − 1)
    rounded half up; distinct, as the step is over 1), or all ``n`` when they are not more than ``limit``. A whole
    stride (every ⌈n / limit⌉-th) kept as few as half of ``limit``: 6,381 iterations gave 3,191 rows of 5,000."""
    if n <= limit:
        return range(n)
    if limit < 2:
        return list(range(limit))
    return [(2 * i * (n - 1) + limit - 1) // (2 * (limit - 1)) for i in range(limit)]


def timeseries_rows(replicas: Sequence[Replica], limit: int = 5000) -> list[list]:
    """Rows of timeseries.csv: per replica, ``limit`` iterations evenly picked (:func:`picked`; all of them when
    there are no more) with their start, seconds, running, waiting, KV blocks used, KV fraction and batch tokens. A
    time average over the rows weights each by its ``seconds`` (the picked rows are a sample of the iterations, so
    the gap to the next row is not the row's time when iterations were left out)."""
    rows = []
    for r in replicas:
        for i in picked(len(r.samples), limit):
            t, s, run, wait, used, tokens = r.samples[i]
            rows.append([r.index, repr(round(t, 9)), repr(round(s, 9)), run, wait, used,
                         repr(round(used / r.kv_total, 6)), tokens])
    return rows


def _transfer_text(kt: dict) -> str:
    """The console's row of a disaggregated run's KV transfers (``serving.kv_transfer``)."""
    if not kt["transfers"]:
        return f"none over {kt['link']}"
    return (f"{kt['transfers']:,} of {kt['mean_bytes_per_chip'] / 1e6:,.1f} MB a chip on average, "
            f"{format_time(kt['mean_s'])} each ({format_time(kt['seconds'])} in all) over {kt['link']}")


def model_title(report: dict) -> str:
    """A serving report's model and arch in words, as ``accelsim run`` names a workload: "qwen25
    (Qwen2ForCausalLM) on h100" (a Hugging Face model's architecture in brackets, when its report gives one)."""
    spec = report.get("model") or {}
    name = model_name(spec) or report.get("name")
    architecture = f" ({spec['architecture']})" if spec.get("architecture") else ""
    return f"{name}{architecture} on {report.get('arch')}"


def summary_rows(report: dict) -> list[tuple[str, str]]:
    """(label, text) rows of the console summary of a serving report."""
    s = report["serving"]

    def ms(d: dict) -> str:
        return " / ".join("-" if d[k] is None else f"{d[k] * 1e3:,.1f}" for k in ("mean", "p50", "p90", "p99"))

    def num(x: float | None, fmt: str = ",.2f") -> str:
        return "-" if x is None else format(x, fmt)

    def later_p50(d: dict) -> str:  # "-" when no later turn finished
        return "-" if d["p50"] is None else f"{d['p50'] * 1e3:,.1f} ms"

    g = s["goodput"]
    kv = s["kv_cache_utilization"]
    draft = (s.get("speculative") or {}).get("draft_simulations", 0)
    rows = [("requests", f"{s['finished']:,} finished of {s['requests']:,} ({s['unfinished']:,} unfinished, "
                         f"{s['rejected']:,} rejected)"),
            ("TTFT ms (mean/p50/p90/p99)", ms(s["ttft_s"])), ("TPOT ms", ms(s["tpot_s"])),
            ("ITL ms", ms(s["itl_s"])), ("end-to-end ms", ms(s["e2e_s"])),
            *([("decode queue ms", ms(dq))] if (dq := s.get("decode_queue_s")) else []),
            ("throughput", f"{num(s['requests_per_s'])} req/s, {num(s['output_tokens_per_s'], ',.0f')} output "
                           f"tok/s, {num(s['input_tokens_per_s'], ',.0f')} input tok/s"),
            ("goodput", f"{num(g['requests_per_s'])} req/s ({_slo_text(g['slo'], num(g['fraction'], '.1%'))})"),
            ("KV cache", f"{num(kv['mean'], '.1%')} mean, {num(kv['max'], '.1%')} max of "
                         f"{report['kv_blocks_per_replica']:,} blocks per replica"),
            *([("batch", f"{num(run['mean'])} mean, {run['max']:,} max running sequences; "
                         f"{num(wait['mean'])} mean, {wait['max']:,} max waiting")]
              if (run := s.get("running_sequences")) and (wait := s.get("waiting_requests")) else []),
            ("preemptions", f"{s['preemptions']:,}"),
            *([("images", f"{im['images']:,} in {im['requests']:,} requests; encoder {format_time(im['encoder_s'])} "
                          f"({im['encoder_busy_fraction']:.1%} of busy time)")] if (im := s.get("images")) else []),
            *([("conversations", f"{c['conversations']:,} of {num(c['mean_turns'])} turns on average; later turns' "
                                 f"TTFT p50 {later_p50(c['later_turn_ttft_s'])}, "
                                 f"{num(c['cached_history_fraction'], '.1%')} of their history cached")]
              if (c := s.get("conversations")) else []),
            *([("speculative", f"{sp['method']}, {sp['num_tokens']} drafts at acceptance {sp['acceptance_rate']:g}: "
                               f"{num(sp['tokens_per_verification'])} tokens a verification"
                               + (f"; draft model {sp['draft_busy_fraction']:.1%} of busy time"
                                  if sp["method"] == "draft" else ""))] if (sp := s.get("speculative")) else []),
            *([("KV transfer", _transfer_text(kt))] if (kt := s.get("kv_transfer")) else []),
            ("saturated", f"yes: {s.get('saturated_reason') or 'latency grew while requests arrived'}"
                          if s["saturated"] else "no"),
            ("accelerator simulations", f"{report['iteration_cost']['simulations'] + draft}"
                                        + (f" ({draft} of the draft model)" if draft else ""))]
    energy, power, eff = report.get("energy"), report.get("power") or {}, report.get("efficiency") or {}
    if energy:
        rows.insert(-1, ("energy", f"{num(energy['total_j'] / 1e3, ',.1f')} kJ ({num(energy['busy_j'] / 1e3, ',.1f')} kJ "
                                   f"in iterations, {num(energy['static_j'] / 1e3, ',.1f')} kJ static) on "
                                   f"{energy['chips']} chip(s); {num(power.get('average_w'), ',.0f')} W average; "
                                   f"{num(eff.get('j_per_output_token'), '.4g')} J per output token"))
    for r in s["replicas"]:
        role = "" if r.get("role", "both") == "both" else f" ({r['role']})"
        rows.append((f"replica {r['replica']}{role}", f"{r['requests']:,} requests, {r['iterations']:,} iterations, "
                                                f"busy {r['busy_fraction']:.1%}, {r['preemptions']:,} preemptions"))
    rows += [("note", str(n)) for n in report.get("notes") or ()]
    return rows
