"""Placement: which memory level holds each persistent tensor (parameters, KV caches, optimizer state, tables).

Every tensor is a list of *chunks* with an access density (bytes read per pass per byte held). HBM is filled with
the densest chunks first, after what must stay in HBM (the largest op's activations, the training stash and the
gradients, unless offloaded); the rest goes to host memory, reached over the host link. More than HBM and host
memory hold together is a :class:`MappingError` giving the bytes needed and available.

* Dense tensors (weights, KV caches, optimizer state) are read whole every pass: one chunk of density 1. In graph
  order, so early layers win ties; KV caches come after the weights.
* Embedding tables read by a gather of g rows out of R (``attrs["gather_rows"]``) are split by rows. Under
  ``access: uniform`` every row has access probability 1/R: one chunk of density g/R. Under ``access: zipf`` with
  exponent α, row r (hottest first) has probability r^−α / H(R, α), so a table is cut into geometric row ranges
  [1], [2, 3], [4, 7], ... whose access mass comes from the generalised harmonic number H (the first 64 terms
  summed, the rest by Euler–Maclaurin to the first-derivative term: relative error below 1e-8). Hot rows go to HBM first; a table can be
  split, its look-ups then hitting HBM with the probability mass of the rows placed there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import MappingError
from ..hardware import Arch
from ..ir import Graph, OpKind

_EXACT_TERMS = 64


@dataclass(frozen=True, slots=True)
class TableSplit:
    """How an embedding table is split: ``hbm_rows`` hottest rows in HBM, which serve ``hbm_hits`` of look-ups."""

    rows: int
    hbm_rows: int
    hbm_hits: float


def harmonic(n: int, alpha: float) -> float:
    """H(n, α) = Σ_{r=1..n} r^−α: exact for n ≤ 64, else the first 64 terms plus an Euler–Maclaurin tail."""
    if n <= 0:
        return 0.0
    head = sum(r ** -alpha for r in range(1, min(n, _EXACT_TERMS) + 1))
    if n <= _EXACT_TERMS:
        return head
    a, b = _EXACT_TERMS, n  # Σ_{r=a+1..b} f(r) ≈ ∫_a^b f + (f(b) − f(a))/2 + (f'(b) − f'(a))/12, f(x) = x^−α
    integral = math.log(b / a) if alpha == 1 else (b ** (1 - alpha) - a ** (1 - alpha)) / (1 - alpha)
    slope = -alpha * (b ** (-alpha - 1) - a ** (-alpha - 1)) / 12
    return head + integral + (b ** -alpha - a ** -alpha) / 2 + slope


def _chunks(rows: int, access: str, alpha: float) -> list[tuple[int, float]]:
    """(rows in the chunk, share of look-ups it serves), hottest chunk first."""
    if access != "zipf" or rows <= 1:
        return [(rows, 1.0)]
    total = harmonic(rows, alpha)
    out, start = [], 1
    while start <= rows:
        end = min(rows, 2 * start - 1)
        mass = (harmonic(end, alpha) - harmonic(start - 1, alpha)) / total
        out.append((end - start + 1, mass))
        start = end + 1
    return out


@dataclass(frozen=True, slots=True)
class Placement:
    """The level of every persistent tensor ("hbm" or "host"; a split table: where most of its rows are) and
    the split of each gathered table."""

    level: dict[str, str]
    tables: dict[str, TableSplit]
    peak_activation_bytes: int = 0


def place(graph: Graph, arch: Arch, sizes: dict[str, int], gathers: dict[str, tuple[int, int, str, float]],
          *, reserved_hbm: int, reserved_host: int = 0, host_first: frozenset[str] = frozenset(),
          what: str = "weights and KV cache", peak_activation_bytes: int = 0) -> Placement:
    """Place ``sizes`` (tensor → bytes, in priority order) given the gathered tables
    (name → (rows, gathers per pass, access, zipf alpha)); ``reserved_*`` bytes must stay free at each level and
    ``host_first`` tensors go to host memory (offload)."""
    host_cap = arch.host.capacity if arch.host is not None else 0
    total = sum(sizes.values())
    need = total + reserved_hbm + reserved_host
    if need > arch.hbm.capacity + host_cap or reserved_hbm > arch.hbm.capacity or reserved_host > host_cap:
        raise MappingError(
            f"{graph.name}: {what} ({total} B) and activations ({reserved_hbm + reserved_host} B) need {need} B "
            f"but HBM ({arch.hbm.capacity} B) and host memory ({host_cap} B) hold {arch.hbm.capacity + host_cap} B")
    # (density, order, name, rows, bytes, hits) per chunk; dense tensors are one chunk of density 1
    chunks: list[tuple[float, int, str, int, int, float]] = []
    for order, (name, nbytes) in enumerate(sizes.items()):
        if name in host_first:
            continue
        if name in gathers:
            rows, g, access, alpha = gathers[name]
            row_bytes = nbytes / rows
            for n_rows, mass in _chunks(rows, access, alpha):
                chunk_bytes = n_rows * row_bytes
                chunks.append((g * mass * row_bytes / chunk_bytes, order, name, n_rows, round(chunk_bytes), mass))
        else:
            chunks.append((1.0, order, name, 0, nbytes, 1.0))
    chunks.sort(key=lambda c: (-c[0], c[1]))
    room = arch.hbm.capacity - reserved_hbm
    in_hbm: dict[str, int] = {}
    tables = {name: [0, 0.0] for name in gathers}
    for _, _, name, n_rows, nbytes, mass in chunks:
        if nbytes > room:
            if name in gathers and room > 0:  # the hottest rows of this chunk that still fit
                part = n_rows * room // nbytes
                tables[name][0] += part
                tables[name][1] += mass * part / n_rows
                placed = nbytes * part // n_rows
                in_hbm[name] = in_hbm.get(name, 0) + placed
                room -= placed
            continue
        room -= nbytes
        in_hbm[name] = in_hbm.get(name, 0) + nbytes
        if name in gathers:
            tables[name][0] += n_rows
            tables[name][1] += mass
    host_used = sum(sizes[n] - in_hbm.get(n, 0) for n in sizes)
    if host_used + reserved_host > host_cap:
        raise MappingError(
            f"{graph.name}: {what} need {need} B but HBM ({arch.hbm.capacity} B) and host memory ({host_cap} B) "
            f"hold {arch.hbm.capacity + host_cap} B")
    level = {n: ("hbm" if in_hbm.get(n, 0) * 2 >= sizes[n] and n not in host_first else "host") for n in sizes}
    splits = {n: TableSplit(gathers[n][0], min(r, gathers[n][0]), min(h, 1.0)) for n, (r, h) in tables.items()}
    return Placement(level, splits, peak_activation_bytes)


def gathered_tables(graph: Graph) -> dict[str, tuple[int, int, str, float]]:
    """Tables read by a gather smaller than the table: name → (rows, rows gathered per pass, access, zipf α)."""
    out: dict[str, tuple[int, int, str, float]] = {}
    for op in graph.ops:
        if op.kind is OpKind.EMBEDDING and op.weights:
            w = op.weights[0]
            rows = w.shape[0]
            g = int(op.attrs.get("gather_rows", rows))
            if g < rows and w.name not in out:
                out[w.name] = (rows, g, str(op.attrs.get("access", "uniform")),
                               float(op.attrs.get("zipf_alpha", 1.0)))
    return out
