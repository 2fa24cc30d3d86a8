"""The requests of a serving run: arrival times and token counts drawn from the file's distributions with one
seeded generator (numpy's PCG64), or read from a trace CSV. Same seed, same requests."""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..config.presets import suggest
from ..config.serving import MAX_ARRIVAL_S, MAX_REQUESTS, MAX_TOKENS, Lengths, RequestsConfig
from ..errors import ConfigError, ConfigIssue

TRACE_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")
OPTIONAL_COLUMNS = ("prefix_group", "images")
MAX_TRACE_LINE = 1 << 20
"""Longest line of a trace CSV read (bytes): a longer one is a one-line error, never a file read whole."""
_CR = re.compile(r"(?<=\r)(?!\n)")  # after a carriage return that ends a line by itself


class TooManyRequests(ValueError):
    """The workload asks for more than :data:`MAX_REQUESTS` requests."""


@dataclass(slots=True, eq=False)
class Request:
    """One request and its progress through a replica (vLLM V1's counters: ``computed`` tokens have KV in the
    cache; the request needs ``prompt + generated - computed`` more computed before it samples its next token)."""

    id: int
    arrival: float
    prompt: int
    output: int
    group: int = -1  # shared-prefix group, -1 for none
    prefix: int = 0  # tokens of the prompt shared with its group
    replica: int = -1
    rank: int = 0  # with expert parallelism: the replica's data-parallel rank it runs on (its KV blocks there)
    computed: int = 0
    generated: int = 0
    blocks: int = 0  # private KV blocks held
    shared: int = 0  # blocks of its group's cached prefix it holds a reference to
    swapped: bool = False
    kv_ready: bool = False  # its KV arrived from a prefill replica (disaggregation): admitted without a prefill
    decode_replica: int = -1  # with disaggregation: the replica that generates its tokens after the first
    scheduled: float = math.nan
    decoding: float = math.nan  # with disaggregation: when its decode replica first scheduled it
    kv_arrived: float = math.nan  # with disaggregation: when its KV reached its decode replica (its queue)
    first_token: float = math.nan
    finish: float = math.nan
    last_token: float = math.nan
    preemptions: int = 0
    swapped_blocks: int = 0  # KV blocks it held when last swapped out: what its swap-in copies back
    kept_from: int = 0  # its group's cached blocks it held when last preempted by recompute with prefix caching
    # (its own full blocks after them stay cached while free: KvPool.keep)
    cached_tokens: int = 0
    images: int = 0  # images in its prompt (their tokens counted in ``prompt``)
    encoded: int = 0  # of its images, those encoded since its KV was last dropped
    audio_encoded: bool = False  # an encoder-decoder's (Whisper's) own encoder pass ran since its KV was last dropped
    conversation: int = -1  # its conversation (multi-turn workloads), -1 for none; its cache group too
    turn: int = 0  # its turn in the conversation, from 0
    follow: Request | None = None  # the conversation's next turn: it arrives think_time after this one finishes
    refused: bool = False  # refused at arrival (longer than max_model_len, or more KV than a replica holds)
    drafts: int = 0  # speculative decoding: draft tokens verified in the iteration in flight
    drafted: int = 0  # draft tokens verified, in all
    accepted: int = 0  # of them accepted

    @property
    def remaining(self) -> int:
        """Tokens still to do: prompt tokens not yet prefilled and output tokens not yet generated."""
        return self.prompt - min(self.computed, self.prompt) + self.output - self.generated


def _lengths(dist: Lengths, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` counts drawn from ``dist``, rounded and clipped to [min, max] (and to :data:`MAX_TOKENS`) before they
    become int64: a draw far out in a tail is a long request, never a wrapped-around one."""
    if dist.dist == "fixed":
        values = np.full(n, float(dist.value))  # type: ignore[arg-type]
    elif dist.dist == "uniform":
        values = rng.integers(dist.low, dist.high + 1, size=n).astype(float)  # type: ignore[operator]
    elif dist.dist == "normal":
        values = rng.normal(dist.mean, dist.std, size=n)
    else:  # lognormal with the given mean and std of the counts
        m, s = float(dist.mean), float(dist.std)  # type: ignore[arg-type]
        # σ² = ln(1 + (s/m)²); ≈ 2 ln(s/m) when (s/m)² would overflow (a tiny mean with a large std)
        ratio = s / m
        sigma2 = math.log1p(ratio**2) if ratio < 1e150 else 2 * (math.log(s) - math.log(m))
        with np.errstate(over="ignore"):  # a draw beyond the float range is inf, clipped below
            values = rng.lognormal(math.log(m) - sigma2 / 2, math.sqrt(sigma2), size=n)
    high = min(dist.max if dist.max is not None else MAX_TOKENS, MAX_TOKENS)
    values = np.nan_to_num(np.rint(values), nan=float(dist.min), posinf=float(high), neginf=float(dist.min))
    return np.clip(values, dist.min, high).astype(np.int64)


def fewest(dist: Lengths) -> int | None:
    """The least count ``dist`` can draw, after its clip to [min, max] (:func:`_lengths`): a fixed value, a
    uniform's low, a normal or lognormal's mean when its std is 0 and its ``min`` otherwise; None for ``trace`` (the
    trace's rows say)."""
    if dist.dist == "trace":
        return None
    if dist.dist == "fixed":
        x = float(dist.value)  # type: ignore[arg-type]
    elif dist.dist == "uniform":
        x = float(dist.low)  # type: ignore[arg-type]
    elif dist.std == 0:  # every draw is the mean
        x = float(np.rint(dist.mean))  # type: ignore[arg-type]
    else:
        x = float(dist.min)
    high = min(dist.max if dist.max is not None else MAX_TOKENS, MAX_TOKENS)
    return int(min(max(x, dist.min), high))


def _arrivals(cfg: RequestsConfig, rng: np.random.Generator) -> np.ndarray:
    """Arrival times (s), the first at 0: ``requests`` of them, or all before ``duration``."""
    a = cfg.arrival
    rate = float(a.rate)  # type: ignore[arg-type]
    product = float(cfg.requests if cfg.requests is not None else float(cfg.duration) * rate)  # type: ignore
    if not product <= MAX_REQUESTS:  # inf too: a huge duration times a huge rate
        count = f"{math.ceil(product):,}" if product < 1e15 else \
            f"{product:.3g}" if math.isfinite(product) else "over 1e308"
        raise TooManyRequests(f"{count} requests: at most {MAX_REQUESTS:,} in one run (shorten the duration "
                              "or lower the rate)")
    expected = cfg.requests if cfg.requests is not None else math.ceil(product)
    if a.process == "constant":
        times = np.arange(expected) / rate
    else:
        n = expected if cfg.requests is not None else int(expected * 1.2 + 50)
        gaps = rng.exponential(1 / rate, size=n) if a.process == "poisson" else \
            rng.gamma(a.shape, 1 / (rate * a.shape), size=n)
        times = np.concatenate(([0.0], np.cumsum(gaps[:-1])))
        while cfg.duration is not None and times[-1] < cfg.duration and len(times) <= MAX_REQUESTS:
            more = rng.exponential(1 / rate, size=n) if a.process == "poisson" else \
                rng.gamma(a.shape, 1 / (rate * a.shape), size=n)
            times = np.concatenate((times, times[-1] + np.cumsum(more)))
    if cfg.duration is not None:
        times = times[times < cfg.duration]
        if len(times) > MAX_REQUESTS:  # a bursty process drew far more than rate × duration: never cut silently
            raise TooManyRequests(f"more than {MAX_REQUESTS:,} requests arrived in the duration (a bursty "
                                  "arrival process): at most that many in one run (shorten the duration or lower "
                                  "the rate)")
    return times


def _text_lines(path: str, f) -> Iterator[str]:
    """The lines of the binary file ``f`` decoded as UTF-8 (a byte-order mark at its start is dropped), one at a
    time: a line that is not UTF-8, or longer than :data:`MAX_TRACE_LINE` bytes, is a one-line error at its line."""
    for line in itertools.count(1):
        data = f.readline(MAX_TRACE_LINE + 1)
        if not data:
            return
        if len(data) > MAX_TRACE_LINE:
            raise ConfigError.one(path, "", f"line longer than {MAX_TRACE_LINE:,} bytes: not a trace CSV", line=line)
        try:
            text = data.decode("utf-8-sig" if line == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError.one(path, "", f"not UTF-8 text (byte {data[e.start]:#04x} at column {e.start + 1}); "
                                  "save the trace as UTF-8 CSV", line=line) from None
        if "\r" in text.rstrip("\r\n"):  # old Mac line ends, split as open(newline="") would
            yield from (part for part in _CR.split(text) if part)
        else:
            yield text


def read_trace(path: str, limit: int | None = None, images: bool = False,
               before: float | None = None, groups: int | None = None) -> list[tuple[float, int, int, int, int]]:
    """Rows (arrival_s, prompt_tokens, output_tokens, prefix_group or -1, images or 0) of a trace CSV, in the
    trace's order, which must be by arrival (so request i is the trace's i-th row: a row arriving before the row
    above it is an error, at the first such line, checked over every row whose ``arrival_s`` reads, whatever its
    other fields); with ``images`` its ``images`` column is required. ``limit``: its first rows only; ``before``:
    only the rows arriving before that time (every row still checked); ``groups``: ``workload.shared_prefix.groups``,
    which a ``prefix_group`` must be below. Every bad field of every row is reported in
    one :class:`ConfigError` (the first :data:`~accelsim.config.schema.MAX_ISSUES`, then how many more). More than :data:`MAX_REQUESTS` rows kept without a ``limit`` raise :class:`TooManyRequests`
    (never a silent cut)."""
    from ..config.schema import MAX_ISSUES

    rows = []
    issues: list[ConfigIssue] = []
    bad = 0  # bad fields and the first out-of-order row, shown or not
    read, unsorted = 0, False
    last: tuple[float, int] | None = None  # the latest arrival so far and its line
    with open(path, "rb") as f:
        reader = csv.DictReader(_text_lines(path, f))
        try:
            missing = [c for c in (*TRACE_COLUMNS, *(("images",) if images else ()))
                       if c not in (reader.fieldnames or [])]
            if missing:
                # the header's near miss of each (' prompt_tokens', prompt_token), as a misspelt optional column's
                # error names it (probe p99 #8)
                names = [n for n in reader.fieldnames or [] if n not in (*TRACE_COLUMNS, *OPTIONAL_COLUMNS)]
                near = [f"{n!r} for {c!r}" for c in missing for n in names
                        if n.strip() == c or suggest(n.strip(), [c])]
                spaced = all(n.strip() in missing for n in names)
                hint = f" (the header has {', '.join(near)}: {'spaces around it' if spaced else 'misspelt'}?)" \
                    if near else ""
                raise ConfigError.one(path, ", ".join(missing), f"missing column(s){hint}; a trace has the header "
                                      f"{','.join(TRACE_COLUMNS)}[,prefix_group][,images]", line=1)
            _check_columns(path, reader.fieldnames or [])
            for row in reader:
                if limit is not None and read >= limit:
                    break
                read += 1
                value, found = _trace_row(path, reader.line_num, row, groups)
                short = [c for c in reader.fieldnames or [] if row.get(c, "") is None]  # DictReader's restval
                if short:  # fewer cells than the header: as a long row, not "expected an integer (got '')"
                    header, cells = len(reader.fieldnames or []), len(reader.fieldnames or []) - len(short)
                    found = [ConfigIssue(path, reader.line_num, "", f"{cells} field{'s' * (cells != 1)}, the header "
                                         f"has {header}"), *(i for i in found or () if i.key not in short)]
                if None in row:  # cells beyond the header's, which DictReader keeps apart (probe p56 #3)
                    header = len(reader.fieldnames or [])
                    found = [ConfigIssue(path, reader.line_num, "", f"{header + len(row[None])} fields, the header "
                                         f"has {header}"), *(found or ())]
                arrival = None if any(i.key == "arrival_s" for i in found or ()) else value[0]
                if arrival is not None and last is not None and arrival < last[0] and not unsorted:
                    unsorted = True
                    found = [ConfigIssue(path, reader.line_num, "arrival_s", (
                        f"before line {last[1]:,}'s {last[0]:g} s: a trace's rows must be in order of arrival "
                        "(request i is its i-th row); sort it by arrival_s"), row.get("arrival_s"), True),
                        *(found or ())]
                if arrival is not None:
                    last = arrival, reader.line_num
                if found:
                    bad += len(found)
                    issues.extend(found[:max(MAX_ISSUES - len(issues), 0)])
                    continue
                if before is None or value[0] < before:
                    rows.append(value)
                if limit is None and len(rows) > MAX_REQUESTS:
                    raise TooManyRequests(f"the trace {path} holds more than {MAX_REQUESTS:,} requests"
                                          f"{' before the duration' if before is not None else ''} (line "
                                          f"{reader.line_num:,}): at most {MAX_REQUESTS:,} in one run (give "
                                          "workload.requests: N for its first N)")
        except csv.Error as e:
            issues.append(ConfigIssue(path, reader.reader.line_num, "", f"not a CSV file ({e})"))
            bad = max(bad, len(issues))
    if issues:
        if bad > len(issues):
            issues.append(ConfigIssue(path, None, "", f"{bad - len(issues):,} more problems not shown"))
        raise ConfigError(issues)
    if not rows:
        raise ConfigError.one(path, "", "the trace holds no requests")
    return rows


def _check_columns(path: str, names: list[str]) -> None:
    """Every named column of a trace's header is one accelsim reads: a misspelt optional column (``prefix_grup``)
    would otherwise be dropped in silence, and the requests lose what it says. A first column with no name (the
    index pandas' ``to_csv`` writes) is left alone; a later one (a trailing comma) is an error."""
    known = (*TRACE_COLUMNS, *OPTIONAL_COLUMNS)
    for i, name in enumerate(names):
        if i and not name.strip():
            hint = " (a trailing comma?)" if i == len(names) - 1 else " (two commas in a row?)"
            raise ConfigError.one(path, "", f"column {i + 1} of the header has no name{hint}; a "
                                  f"trace has the header {','.join(TRACE_COLUMNS)}[,prefix_group][,images]", line=1)
        if name not in known and name.strip():
            columns = f"(columns: {', '.join(known)})"
            raise ConfigError.one(path, name, f"unknown column{suggest(name, known)} {columns}", line=1)


def _trace_row(path: str, line: int, row: dict, groups: int | None = None
               ) -> tuple[tuple[float, int, int, int, int], list[ConfigIssue] | None]:
    """A trace row's (arrival_s, prompt_tokens, output_tokens, prefix_group, images) and the issues of every bad
    field of it, in column order (None when it has none; a bad field's value is then 0). ``groups``: the groups a
    ``prefix_group`` is one of (0 to groups − 1; None: any)."""
    out: list[float | int] = []
    found: list[ConfigIssue] = []
    for col, kind, low in (("arrival_s", float, 0), ("prompt_tokens", int, 1), ("output_tokens", int, 1),
                           ("prefix_group", int, 0), ("images", int, 0)):
        text = (row.get(col) or "").strip()
        if col in ("prefix_group", "images") and not text:  # optional columns
            out.append(-1 if col == "prefix_group" else 0)
            continue
        problem = None
        try:
            value = kind(text)
        except ValueError:
            value, problem = 0, f"expected {'a number' if kind is float else 'an integer'}"
        else:
            if not math.isfinite(value):  # inf, 1e400, nan: as a --set of a number says (probe p56 #4)
                problem = "expected a finite number"
            elif not value >= low:
                problem = f"expected a value >= {low}"
            elif col == "arrival_s" and value > MAX_ARRIVAL_S:
                problem = ("expected at most 1e9 s (some 32 years; times are seconds from the trace's start: for Unix "
                           "timestamps, subtract the first arrival)")
            elif kind is int and col != "prefix_group" and value > MAX_TOKENS:
                problem = f"expected at most {MAX_TOKENS:,} (2^31)"
            elif col == "prefix_group" and groups is not None and value >= groups:
                problem = (f"expected a value < {groups} (workload.shared_prefix.groups is {groups}; leave it out to "
                           "take the trace's groups)")
        if problem is not None:
            found.extend(ConfigError.one(path, col, problem, line=line, value=text).issues)
        out.append(value)
    return (out[0], out[1], out[2], out[3], out[4]), found or None  # type: ignore[return-value]


STREAMS = ("arrivals", "prompt_tokens", "output_tokens", "groups", "images", "turns")
"""The random streams of a run, each its own numpy Generator spawned from ``workload.seed`` (:func:`streams`)."""


def streams(seed: int) -> dict[str, np.random.Generator]:
    """One Generator per quantity drawn (:data:`STREAMS`), children of ``SeedSequence(seed)``: common random
    numbers. The i-th request's lengths, group and images are the same whatever the arrival rate or the number of
    requests, and the gaps between arrivals are the same draws scaled by 1/rate, so a rate sweep or a capacity
    search compares the same requests under different loads (one stream for everything made the lengths start
    wherever the arrivals, whose count depends on the rate, left it)."""
    return dict(zip(STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(STREAMS))),
                    strict=True))


def make_requests(cfg: RequestsConfig, trace_file: str | None = None) -> list[Request]:
    """The run's requests, in arrival order (ids 0, 1, …)."""
    rng = streams(cfg.seed)
    if cfg.conversation is not None:
        return _conversations(cfg, rng)
    if trace_file is not None:
        from_trace = cfg.images is not None and cfg.images.dist == "trace"  # the column when the trace has one
        groups = cfg.shared_prefix.groups if cfg.shared_prefix is not None else None
        rows = read_trace(trace_file, cfg.requests, images=from_trace, before=cfg.duration, groups=groups)
        out = [Request(i, a, p, o, group=g, images=m if from_trace else 0) for i, (a, p, o, g, m) in enumerate(rows)]
    else:
        times = _arrivals(cfg, rng["arrivals"])
        n = len(times)
        prompts = _lengths(cfg.prompt_tokens, n, rng["prompt_tokens"])
        outputs = _lengths(cfg.output_tokens, n, rng["output_tokens"])
        drawn = rng["groups"].integers(cfg.shared_prefix.groups, size=n) if cfg.shared_prefix else np.full(n, -1)
        out = [Request(i, float(t), int(p), int(o), group=int(g))
               for i, (t, p, o, g) in enumerate(zip(times, prompts, outputs, drawn, strict=True))]
    if cfg.images is not None and cfg.images.dist != "trace":  # a stream of their own: a text-only file's
        for r, m in zip(out, _lengths(cfg.images, len(out), rng["images"]), strict=True):  # requests stay the same
            r.images = int(m)
    return out


def _conversations(cfg: RequestsConfig, rng: dict[str, np.random.Generator]) -> list[Request]:
    """Every turn of every conversation (ids conversation by conversation, turn by turn): a conversation's first turn
    arrives by the arrival process; a later turn's arrival is set when the turn before it finishes (NaN until then),
    its prompt is the conversation so far and its new tokens, of which the conversation so far is its cacheable
    prefix (the prefix group is the conversation)."""
    assert cfg.conversation is not None
    starts = _arrivals(cfg, rng["arrivals"])
    turns = _lengths(cfg.conversation.turns, len(starts), rng["turns"])
    total = int(turns.sum())
    if total > MAX_REQUESTS:
        raise TooManyRequests(f"{len(starts):,} conversations of {cfg.conversation.turns.dist} turns make {total:,} "
                              f"requests: at most {MAX_REQUESTS:,} in one run (fewer conversations or turns)")
    news, outputs = _lengths(cfg.prompt_tokens, total, rng["prompt_tokens"]), _lengths(cfg.output_tokens, total,
                                                                                      rng["output_tokens"])
    out: list[Request] = []
    for c, (start, n) in enumerate(zip(starts, turns, strict=True)):
        history, before = 0, None
        for t in range(int(n)):
            i = len(out)
            prompt = min(history + int(news[i]), MAX_TOKENS)
            req = Request(i, float(start) if t == 0 else math.nan, prompt, int(outputs[i]), group=c,
                          prefix=min(history, prompt - 1), conversation=c, turn=t)
            if before is not None:
                before.follow = req
            out.append(req)
            history, before = min(prompt + req.output, MAX_TOKENS), req
    return out


def add_image_tokens(requests: list[Request], positions: int) -> None:
    """Each request's prompt holds its images' ``positions`` prompt tokens each (the model's soft tokens and
    markers per image) besides its text tokens."""
    for r in requests:
        r.prompt += r.images * positions


def set_prefixes(requests: list[Request], prefix_tokens: int) -> None:
    """Each grouped request shares ``prefix_tokens`` of its prompt (at most all but its last token)."""
    for r in requests:
        if r.group >= 0:
            r.prefix = min(prefix_tokens, r.prompt - 1)
