"""Mixture-of-experts MLPs: routing, expert FFNs as grouped GEMMs, capacity, expert parallelism.

Op conventions (one MoE layer over tokens x (batch, tokens, hidden), T tokens on this chip, E experts, top-k):

* ``{router}`` LINEAR hidden → E (no bias), ``router_topk`` ELEMENTWISE fn "router_topk" over the T·E logits
  (softmax 5 + k selection passes per logit), output the (batch, tokens, k) routing weights. Without token shards
  every tensor-parallel chip routes every token: the router is built in ``TransformerBuilder.replicated`` (attrs
  ``tp_replicas`` = TP, counted once over the chips as model FLOPs; probe p143 #1).
* ``dispatch`` ELEMENTWISE fn "moe_dispatch": the token copies routed to experts (T·k rows of ``hidden``, less the
  dropped ones), gathered expert by expert (a copy on the vector unit, no FLOPs). With expert parallelism EP > 1 an
  ``all_to_all_dispatch`` COLLECTIVE (fn "all_to_all", ``group`` EP) then brings this chip the rows routed to its
  E / EP experts from every chip of the group; ``all_to_all_combine`` sends the results back. Both outputs have the
  larger of the rows the chip sends (its tokens' routed rows) and receives (its experts' rows): the busier
  direction bounds the chip's collective, and the combine is the dispatch reversed. Under an 8- or 4-bit
  activation dtype the dispatch moves the rows in it and the combine the experts' 16-bit ``down_proj`` output
  (attrs ``gemm_output``: :func:`~.precision.moves_gemm_output`, DeepEP's "FP8 dispatching and BF16 combining").
  On the wire (attrs ``wire_rows``, priced at :func:`~accelsim.units.dispatch_bytes`: an fp8 row with its fp32
  scale per 128 values, fp4 packed two a byte with an fp8 scale per 16) the all-to-alls carry those rows, one per
  token-expert pair (DeepEP's low-latency mode, a decode step's; Megatron-Core's MoEAlltoAllTokenDispatcher,
  training's), or with ``per_rank`` (an inference prefill: DeepEP's normal mode, which sends a token once to each
  rank that holds any of its experts, ``is_token_in_rank``) the rows × D / k, D the expected ranks a token reaches
  (:func:`~accelsim.draws.dispatch_ranks`, under uniform or group-limited routing; where EP does not divide the
  experts, the rows received are the chip's own experts' distinct tokens, :func:`~accelsim.draws.rank_reach`;
  under skewed or given counts a token's chance of reaching a rank from the per-expert counts,
  :func:`reach_from_loads`; never more than the tokens there are: :func:`_per_rank_rows`); attrs ``fanout`` (the
  routing, the chip's tokens and the wire rows) then prices its hops across nodes once per destination node
  (DeepEP's RDMA, forwarded over NVLink, at most a row per token and remote node:
  :func:`~accelsim.cost.collective.fanout_nic_bytes`). The group's chips
  are tensor_parallel × context_parallel apart (attrs ``extent`` TP·CP·EP: Megatron's rank order tensor, context,
  expert, data), so on several nodes its all-to-alls may cross them.
* Token shards (:func:`token_shards`: tensor parallelism TP > 1 with EP > 1 and experts split by width): each chip
  of a tensor-parallel group routes and dispatches only its 1/TP of the group's tokens, so each token crosses the
  all-to-all once. Megatron-Core requires sequence parallelism with TP and EP (its TransformerConfig: "When using
  expert parallelism and tensor parallelism, sequence parallelism must be used"; its MoEAlltoAllTokenDispatcher
  all-to-alls each rank's S/TP·B tokens over the EP group), and vLLM's sequence-parallel MoE and DeepEP's wide EP
  dispatch each token once too. The dispatch sends ⌈kept / (EP·TP)⌉ rows (its shard of ⌈n / TP⌉ of
  the TP group's n tokens: ⌈kept · ⌈n / TP⌉ / (n · EP)⌉) and receives 1/TP of its experts' rows;
  ``experts_all_gather`` (COLLECTIVE fn "all_gather", group TP, in the dispatch's dtype) gathers all of them for the width-split experts and
  ``experts_reduce_scatter`` returns each chip its 1/TP of the summed outputs before the combine all-to-all; no
  all-reduce follows. Under sequence parallelism (``b.sp``) the input is the chip's token shard already and the
  output stays one; otherwise a ``sequence_scatter`` view ``token_shard`` takes ⌈tokens / TP⌉ of the tokens every
  chip holds (vLLM's sequence_parallel_chunk) and ``combine_all_gather`` gathers the combined shards back.
* Expert FFNs as grouped GEMMs: the chip's experts with the same token count c form a group of g experts; each of
  its projections is one MATMUL ``Gemm(m = c, n, k, count = g)`` whose weights are the g experts' matrices (named
  as Hugging Face's ``experts.{i}.{proj}.weight``), so an op reads only the weights of experts that got tokens;
  the group's scope is ``experts_{first}_{last}``, ``_step{s}`` added where it holds every s-th (:func:`_group_tag`).
  Experts with no token (decode with a small batch) hold their weights on an ``unused_params`` view: counted in
  ``params``, never read.
* ``combine`` ELEMENTWISE fn "moe_combine": each token's k expert outputs weighted and summed (2 FLOPs per routed
  element), then the tensor-parallel all-reduce when the experts' width is split: one per MoE layer. With a shared
  expert (``reduce`` off) the combine's partial sums are returned unreduced, the caller adds the shared expert's
  row-parallel partial output (Qwen2-MoE's sigmoid gate applied to it first: a per-token scale commutes with the
  sum over the shards) and all-reduces the sum once, as serving engines do (vLLM's DeepseekV2MoE and
  Qwen2MoeSparseMoeBlock build their shared experts with ``reduce_results=False``: vllm-project/vllm,
  vllm/model_executor/models/deepseek_v2.py and qwen2_moe.py).

Routing (:func:`expert_loads`): the T·EP·k token-expert assignments of the expert-parallel group are spread over
the experts ``balanced`` (equal shares over all E experts: with fewer than E assignments each hit expert takes
one, so a batch touches min(E, T·EP·k) experts, the most any routing can: an upper bound on the expert weights
the group's decode step reads; under expert parallelism every chip takes an equal share, ⌈min(E, T·EP·k) / EP⌉
experts, the perfectly load-balanced chip, not a bound on the busiest chip's, which a routing can give up to
min(E / EP, T·EP·k): ``counts`` prices that; probe p227 #2), ``uniform`` (equal shares over the expected number
of distinct experts that T·EP tokens picking k of E uniformly and independently touch, E·(1 − (1 − k/E)^(T·EP))
rounded half up: :func:`expected_experts`; over several chips the busiest, chip 0, holds its expected count,
:func:`busiest_chip_experts`, rounded half up, the rest shared out over the others: DeepSeek-V3 decode at EP 8,
8 tokens, 11 of the 57 hit experts, not an even share's 8), ``skewed`` (expert i's share ∝ (i + 1)^−skew, a Zipf
law) or as given ``counts``: shares of each pass's T·EP·k (at least k above 0), so one list serves every pass of a run (a prefill and its
decode steps, a serving grid's shapes: probe p114 #2), and counts that add up to a pass's T·EP·k, each at most
T·EP, are that pass's exactly; shares are rounded by largest remainder and capped at the group's tokens (a token
picks k distinct experts), the excess re-spread over the others. With a capacity factor cf > 0 each expert takes at most ⌈cf · T·EP·k / E⌉ assignments and the rest are
dropped (they pass through on the residual). Chip j holds experts j·E/EP … (j + 1)·E/EP − 1 (where EP does not
divide E, inference only, chips j < E mod EP hold one more: vLLM's determine_expert_map); under balanced and
uniform routing every EP-th expert from j (j, j + EP, ...), so a small batch's few hit experts are shared out over
the group's chips, not all counted on the simulated one: evenly under balanced, and under uniform with the busiest
chip's expected excess over the even share, as a random routing's would be. The simulated chip is the
busiest (:func:`busiest_shard`: its experts receive the most assignments; the step waits for it): chip 0 under
balanced, uniform and skewed routing, any chip under given counts. Its all-to-alls are priced on the larger of the
rows it sends and receives (the combine is the dispatch reversed: under skew both carry the hot chip's rows).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..draws import dispatch_ranks, rank_reach
from ..errors import WorkloadError
from ..ir import Gemm, OpKind, Weight, WeightPool
from .tlayers import SOFTMAX_FLOPS, TransformerBuilder


@dataclass(frozen=True)
class Routing:
    """How tokens are routed: ``mode`` balanced/uniform/skewed/counts, the Zipf ``skew``, per-expert ``counts`` (of the
    expert-parallel group's assignments), the ``capacity_factor`` (0: no limit), the expert-parallel degree and
    the tensor-parallel chips the experts are ``spread`` over whole (``uniform`` puts the busiest of the
    expert_parallel × spread chips that hold the experts on its expected count)."""

    mode: str = "balanced"
    skew: float = 1.0
    counts: tuple[int, ...] = ()
    capacity_factor: float = 0.0
    expert_parallel: int = 1
    spread: int = 1


@dataclass(frozen=True)
class Loads:
    """Assignments per expert (kept, after capacity), the dropped ones and the capacity (0: none)."""

    kept: tuple[int, ...]
    dropped: int
    capacity: int


def _largest_remainder(total: int, shares: Sequence[float], cap: int) -> list[int]:
    """``total`` split in proportion to ``shares`` into integers ≤ ``cap`` (largest remainder; ties to the lower
    index), the excess of capped entries re-spread over the others."""
    n = len(shares)
    out = [0] * n
    free = list(range(n))
    left = total
    while left and free:
        weight = sum(shares[i] for i in free)
        raw = {i: left * shares[i] / weight for i in free}
        base = {i: math.floor(raw[i]) for i in free}
        rest = left - sum(base.values())
        for i in sorted(free, key=lambda i: (-(raw[i] - base[i]), i))[:rest]:
            base[i] += 1
        left = 0
        for i in free:
            take = min(base[i], cap - out[i])
            out[i] += take
            left += base[i] - take
        free = [i for i in free if out[i] < cap]
    return out


def expected_experts(tokens: int, top_k: int, experts: int) -> int:
    """The distinct experts ``tokens`` tokens touch when each picks ``top_k`` of ``experts`` uniformly and
    independently of the others: the expected count E·(1 − (1 − k/E)^T) (each expert is missed by a token with
    probability 1 − k/E), rounded half up, at least k (one token's picks) and at most E. 0 tokens touch none."""
    if tokens <= 0:
        return 0
    expected = experts * (1 - (1 - top_k / experts) ** tokens)
    return max(top_k, min(experts, math.floor(expected + 0.5)))


def busiest_chip_experts(tokens: int, top_k: int, experts: int, chips: int) -> float:
    """The expected distinct experts of the busiest of ``chips`` chips that each hold ``experts`` / ``chips`` of
    the experts, when ``tokens`` tokens (the expert-parallel group's) each pick ``top_k`` of ``experts`` uniformly
    and independently: each of a chip's n = E / chips experts is hit with p = 1 − (1 − k/E)^T (as in
    :func:`expected_experts`), a chip's count taken as Binomial(n, p) and the chips as independent of each other
    (an approximation: the chips share the tokens' picks, so their counts are not independent; 4 experts on 2
    chips, 2 tokens picking 1: 1.2461 by it, 1.25 exactly; 1 token picking 2: 1.375 by it, 4/3 exactly), so
    E[max] = Σ_{m=1..n} 1 − F(m − 1)^chips, F the binomial's distribution function, in closed form (no sampling;
    each term C(n, j)·p^j·(1 − p)^(n − j) taken through its logarithm, so that a large n does not overflow). DeepSeek-V3 decode at EP 8, 8 tokens,
    E = 256, k = 8: 10.64 experts, where an even share is 8 (probe p227 #2: a 5,000-trial Monte Carlo 10.63);
    gpt-oss-120b, E = 128, k = 4: 6.05 (10,000 trials: 6.07); one chip: E·p."""
    if tokens <= 0:
        return 0.0
    n = -(-experts // chips)  # the busiest chip's: one more than some where chips do not divide the experts
    if top_k >= experts:  # every expert hit
        return float(n)
    log_miss = tokens * math.log1p(-top_k / experts)  # ln(1 − p)
    log_hit = math.log(-math.expm1(log_miss))  # ln p
    below, total = 0.0, 0.0  # F(m − 1), E[max]
    for m in range(1, n + 1):
        j = m - 1
        below += math.exp(math.log(math.comb(n, j)) + j * log_hit + (n - j) * log_miss)
        total += 1 - min(below, 1.0) ** chips
    return total


def _uniform_hits(tokens: int, top_k: int, experts: int, chips: int) -> list[int]:
    """The experts ``uniform`` routing hits: :func:`expected_experts` of them in all; over ``chips`` chips that
    each hold every chips-th expert (chip j: j, j + chips, ...), chip 0 holds the busiest chip's expected count,
    :func:`busiest_chip_experts` rounded half up (an integer: its experts are named GEMMs, so the fraction is
    rounded as the group's count is; at least its even share ⌈hit / chips⌉, at most its E / chips and the hit
    ones), the rest shared out over the other chips in turn. One chip: experts 0 … hit − 1."""
    hit = expected_experts(tokens, top_k, experts)
    if chips <= 1:
        return list(range(hit))
    n = -(-experts // chips)  # chip 0's experts (one more than some chips' where chips do not divide them)
    most = math.floor(busiest_chip_experts(tokens, top_k, experts, chips) + 0.5)
    mine = max(-(-hit // chips), min(most, n, hit))
    ids = [chips * i for i in range(mine)]
    rest = hit - mine
    others = [e for i in range(n) for j in range(1, chips) if (e := j + chips * i) < experts]
    return sorted(ids + others[:rest])


@functools.lru_cache(maxsize=1024)
def expert_loads(tokens: int, top_k: int, experts: int, routing: Routing) -> Loads:
    """Assignments per expert of ``tokens`` tokens (the whole expert-parallel group's) routed to ``top_k`` of
    ``experts`` experts (see the module docstring). Memoised: every MoE layer of a pass routes the same tokens."""
    assignments = tokens * top_k
    if routing.mode == "counts":
        # shares: one list serves every pass of a run, each routing its own tokens (a prefill and its decode steps,
        # a serving grid's shapes; before, counts had to add up to every pass's T·k at once: probe p114 #2)
        if (len(routing.counts) != experts or any(c < 0 for c in routing.counts)
                or sum(1 for c in routing.counts if c > 0) < min(top_k, experts)):
            # the key is err.key's, named once by whoever shows it (probe p90 #6: "expert_counts: expert_counts:")
            raise WorkloadError(f"expected {experts} counts (one per expert, the shares each pass's tokens × top-k "
                                f"assignments are split in), at least top-k = {top_k} of them above 0 (a token picks "
                                f"{top_k} distinct experts) (got {list(routing.counts)})", key=("expert_counts",))
        counts = _largest_remainder(assignments, routing.counts, tokens)
    elif routing.mode == "uniform":  # spread evenly over the hit experts, the busiest chip's share its expected max
        hit = set(_uniform_hits(tokens, top_k, experts, routing.expert_parallel * routing.spread))
        counts = _largest_remainder(assignments, [1.0 if i in hit else 0.0 for i in range(experts)], tokens)
    else:
        skew = routing.skew if routing.mode == "skewed" else 0.0
        counts = _largest_remainder(assignments, [(i + 1) ** -skew for i in range(experts)], tokens)
    capacity = math.ceil(routing.capacity_factor * assignments / experts) if routing.capacity_factor > 0 else 0
    kept = [min(c, capacity) for c in counts] if capacity else counts
    return Loads(tuple(kept), sum(counts) - sum(kept), capacity)


def _groups(kept: Sequence[int]) -> list[tuple[int, list[int]]]:
    """(token count, experts) for each distinct non-zero count, in order of first appearance."""
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(kept):
        if c:
            groups.setdefault(c, []).append(i)
    return list(groups.items())


@dataclass(frozen=True)
class ExpertNames:
    """Hugging Face module names: the MoE block's scope, its router, the experts' gate, up and down projections."""

    block: str
    router: str
    gate: str
    up: str
    down: str


@dataclass(frozen=True)
class ExpertForm:
    """How the experts' MLPs are written: biased router and expert projections, the gate and up projections as one
    GEMM (``gate_up_proj``, GPT-OSS), or no gate at all (``gated`` false: up → activation → down, Nemotron-H's
    ReLU² experts)."""

    router_bias: bool = False
    bias: bool = False
    fused_gate_up: bool = False
    gated: bool = True

    def proj_weights(self, prefix: str, names: ExpertNames, ids: Sequence[int], proj: str, n: int,
                     k: int) -> list[Weight]:
        """Projection ``proj`` (n × k) of experts ``ids``, named as Hugging Face's ``experts.{i}.{proj}.weight``,
        then their ``.bias`` (n,) when the experts have biases."""
        out = [_EXPERTS.get(f"{prefix}.{names.block}.experts.{i}.{proj}.weight", (n, k)) for i in ids]
        if self.bias:
            out += [_EXPERTS.get(f"{prefix}.{names.block}.experts.{i}.{proj}.bias", (n,)) for i in ids]
        return out

    def weights(self, prefix: str, names: ExpertNames, i: int, width: int, hidden: int) -> list[Weight]:
        """Expert ``i``'s parameters, projection by projection (:meth:`proj_weights`)."""
        if self.fused_gate_up:
            projs = [("gate_up_proj", 2 * width, hidden)]
        elif self.gated:
            projs = [(names.gate, width, hidden), (names.up, width, hidden)]
        else:
            projs = [(names.up, width, hidden)]
        projs.append((names.down, hidden, width))
        return [w for p, n, k in projs for w in self.proj_weights(prefix, names, (i,), p, n, k)]

    def expert_params(self, width: int, hidden: int) -> int:
        """One expert's parameters: 3·hidden·width (2· without a gate), and with biases the projections' outputs
        more."""
        gates = 1 if self.gated else 0
        return (2 + gates) * hidden * width + ((1 + gates) * width + hidden if self.bias else 0)


_EXPERTS = WeightPool()  # the experts' tensors: tens of thousands in a model, made again for each pass of a run


@functools.lru_cache(maxsize=1 << 16)
def _expert_weights(form: ExpertForm, prefix: str, names: ExpertNames, i: int, width: int,
                    hidden: int) -> tuple[Weight, ...]:
    """``form.weights(...)``, remembered: a decode pass holds most experts of every layer idle."""
    return tuple(form.weights(prefix, names, i, width, hidden))


def expert_shards(experts: int, chips: int, strided: bool) -> list[list[int]]:
    """The experts each of ``chips`` chips holds: chip j experts j·E/chips … (j + 1)·E/chips − 1, chips below E mod
    chips one more (vLLM's determine_expert_map: base + 1 experts for rank < remainder), or with ``strided`` every
    chips-th expert from j (j, j + chips, ...)."""
    local, extra = divmod(experts, chips)
    first = [j * local + min(j, extra) for j in range(chips + 1)]
    return [list(range(j, experts, chips)) if strided else list(range(first[j], first[j + 1])) for j in range(chips)]


def busiest_shard(kept: Sequence[int], chips: int, strided: bool) -> list[int]:
    """The experts of the chip, of ``chips`` that split ``kept``'s experts (:func:`expert_shards`), that receives the most
    assignments (the lowest such chip on a tie): an expert-parallel step waits for its busiest chip, whose combine
    all-to-all the others wait on. Balanced, uniform and skewed routings put the most on chip 0 (shares fall with
    the expert's index, ties to the lower one); given counts may load any chip."""
    return max(expert_shards(len(kept), chips, strided), key=lambda ids: (sum(kept[i] for i in ids), -ids[0]))


def reach_from_loads(kept: Sequence[int], ids: Sequence[int], tokens: int, top_k: int) -> float:
    """The chance that a token of the ``tokens`` whose assignments per expert are ``kept`` picks at least one of
    experts ``ids``: a token picks expert i at most once, so with chance p_i = kept[i] / tokens, and taking the
    picks as independent of each other, 1 − Π_{i ∈ ids} (1 − p_i); at least the hard bounds the counts give, max
    p_i (one expert's tokens are distinct) and Σ p_i / min(k, m) (a token takes at most min(k, m) of the m experts'
    assignments: experts 0-3 of 16 holding every top-2 assignment are reached by every token, where the product
    says 1 − ½⁴), and at most min(1, Σ p_i). Exact at the ends: an expert that every token picks (Zipf skew caps
    expert 0 at the tokens) gives 1, experts no token picks 0. Under uniform picks the exact value is the
    hypergeometric :func:`~accelsim.draws.rank_reach`, which balanced and uniform routing keep (independent picks
    miss a rank a little more often: (1 − k/E)^m ≥ C(E − m, k) / C(E, k))."""
    if tokens <= 0 or not ids:
        return 0.0
    p = [min(kept[i], tokens) / tokens for i in ids]
    least = max(max(p), sum(p) / min(top_k, len(p)))
    return min(1.0, sum(p), max(least, 1 - math.prod(1 - q for q in p)))


def rank_bound(experts: int, top_k: int, ranks: int, groups: int = 0, picked: int = 0) -> int:
    """The most ranks, of ``ranks`` holding E / R experts each, one token's ``top_k`` picks can reach: k and R, and
    under group-limited routing (``groups`` G, ``picked`` g, as :func:`~accelsim.draws.dispatch_ranks` reads
    them) its g picked groups' ranks: g where R divides G (a rank holds G / R whole groups), g · R / G where G
    divides R (a group over R / G ranks). DeepSeek-V3 at EP 8: 4."""
    most = min(ranks, top_k)
    if groups > 1 and 0 < picked < groups and experts % groups == 0:
        if groups % ranks == 0:
            most = min(most, picked)
        elif ranks % groups == 0:
            most = min(most, picked * ranks // groups)
    return most


def token_shards(tp: int, ep: int, spread: int = 1) -> int:
    """The chips of a tensor-parallel group that split its tokens for an MoE layer's dispatch: ``tp`` with expert
    parallelism over experts split by width (``ep`` > 1, ``spread`` 1: Megatron-Core's sequence-parallel token
    shards, vLLM's sequence-parallel MoE; see the module docstring), else 1 (every chip routes every token)."""
    return tp if tp > 1 and ep > 1 and spread == 1 else 1


def _per_rank_rows(loads: Loads, mine: Sequence[int], *, experts: int, top_k: int, ep: int, spread: int,
                   per_rank: tuple[int, int], tokens: int, group_tokens: int, sent: int, received: int,
                   even: bool) -> int:
    """The rows a per-rank all-to-all (DeepEP's normal mode: a token once to each rank holding any of its experts)
    puts on the wire at the chip holding experts ``mine``: the larger of what it sends, its ``tokens`` × the
    distinct ranks each reaches, and what it receives, the distinct tokens that reach its experts, of the EP·tokens
    the group's chips dispatch over the all-to-all (``group_tokens``, the loads' tokens, over the token shards).
    ``sent`` and ``received`` are the rows a row per token-expert pair gives, which bound both.

    ``even`` (balanced or uniform routing: picks spread evenly over the hit experts) takes the uniform picks'
    expected ranks :func:`~accelsim.draws.dispatch_ranks` D: the routed rows × D / k, or where EP does not divide
    the experts the chip's own experts' distinct tokens, :func:`~accelsim.draws.rank_reach` (probe p260 #4: the
    9-expert rank of EP 7 over 60 experts receives 1792 tokens' 873.6, not its 1075 rows × D / k = 883).
    Skewed or given counts concentrate a token's picks, so many of a chip's pairs share a token and D / k is far
    too small a factor (probe p280 #1: DeepSeek-V3 EP 8 under Zipf skew received 19,242 rows of a group of
    8,192 tokens): the chance a token reaches a rank is taken from the per-expert counts
    (:func:`reach_from_loads`), received EP·tokens × that of the chip's experts, sent tokens × its sum over the
    ranks (at most :func:`rank_bound`). Every path is capped at EP·tokens, the distinct tokens that can arrive."""
    arriving = tokens * ep  # the group's tokens over the all-to-all: the chip's token shard's, 1/TP, with shards
    moved = max(sent, received)
    if not even:
        into = arriving * reach_from_loads(loads.kept, mine, group_tokens, top_k)
        # (experts spread over the TP chips, ``spread`` > 1, take no expert parallelism: HfParams refuses both)
        reached = sum(reach_from_loads(loads.kept, ids, group_tokens, top_k) for ids in expert_shards(experts, ep, False))
        out = tokens * min(reached, rank_bound(experts, top_k, ep, *per_rank))
        return min(moved, arriving, math.ceil(max(out, into)))
    ranks = dispatch_ranks(experts, top_k, ep, *per_rank)
    held = len(mine)
    if spread > 1 or not held or (experts % ep == 0 and held == experts // ep):
        return min(moved, arriving, math.ceil(moved * ranks / top_k))
    into = received * rank_reach(experts, top_k, ep, held, *per_rank) * experts / (top_k * held)
    return min(moved, arriving, math.ceil(max(sent * ranks / top_k, into)))


def moe_layer(b: TransformerBuilder, x: str, *, prefix: str, experts: int, top_k: int, ffn: int, act: str,
              names: ExpertNames, loads: Loads, ep: int, form: ExpertForm = ExpertForm(), reduce: bool = True,
              spread: int = 1, strided: bool = False, per_rank: tuple[int, int] | None = None) -> str:
    """One MoE MLP on ``x`` (inside the layer's scope ``prefix``); returns the combined output (see the module
    docstring). ``loads`` are the group's assignments per expert; this chip is the busiest (:func:`busiest_shard`). Without
    ``reduce`` the tensor-parallel partial sums are returned unreduced, for the caller to add the shared expert's
    and reduce the sum once (not read with token shards: the output is complete). ``spread`` > 1 (the
    tensor-parallel degree, with expert_tensor_parallel 1): the experts are whole and spread over the
    tensor-parallel chips, E/spread each, every chip routing the same tokens and gathering the rows of its own
    experts; its combine is its experts' share of each token's sum, which the tensor-parallel all-reduce completes.
    ``strided`` (balanced or uniform routing): the chip holds every (EP · spread)-th expert, 0, EP · spread, ..., so the few
    experts a small batch hits fall on the chips in turn (under uniform routing chip 0 with its expected maximum,
    :func:`busiest_chip_experts`), rather than all on the simulated chip. With tensor and expert parallelism (:func:`token_shards`) the chip routes its 1/TP of the tokens
    (see the module docstring). ``per_rank`` (the routing's ``n_group``, ``topk_group``; (0, 0) ungrouped): the
    all-to-alls send each token once per destination rank (DeepEP's normal mode), on average
    :func:`~accelsim.draws.dispatch_ranks` of them; None: once per routed expert."""
    shards = token_shards(b.tp, ep, spread)
    if shards == 1:
        x = b._tp_in(x)  # sequence parallelism: the token shards gathered (Megatron's all-gather dispatcher)
    shape = b.shape(x)
    whole = shape  # the output's shape
    if shards > 1 and not b.sp:  # every chip holds every token: it takes its 1/TP (a view, no communication)
        x = b.view(x, (1, -(-math.prod(shape[:-1]) // shards), shape[-1]), "sequence_scatter", name="token_shard",
                   strict=False, dim=1, start=0, group=shards)
    tokens, hidden = math.prod(b.shape(x)[:-1]), shape[-1]
    width = ffn if spread > 1 else b._tp_hidden(ffn)
    mine = busiest_shard(loads.kept, ep * spread, strided)  # the chip's experts: the group's busiest chip's
    here = [loads.kept[i] for i in mine]
    # the rows this chip dispatches (balanced over the group: its 1/EP share of the kept assignments, with token
    # shards its shard's part of that, ⌈tokens / TP⌉ of the TP group's); experts spread over the tensor-parallel
    # chips: the rows routed to its own experts
    group = math.prod(whole[:-1]) * (shards if b.sp else 1)  # the tensor-parallel group's tokens
    sent = sum(here) if spread > 1 else -(-sum(loads.kept) * tokens // (group * ep))
    # an all-to-all's rows on this chip: the larger of what it sends (its tokens' routed rows) and what it receives
    # (its experts' rows, 1/TP of them with token shards), the dispatch's and the combine's alike (the combine is
    # the dispatch reversed): the chip's busier direction bounds the collective
    moved = max(sent, -(-sum(here) // shards))
    # the group's chips are tensor_parallel × context_parallel apart (Megatron's rank order tensor, context,
    # expert, data): the chips its all-to-alls span, which may leave a node
    span = b.tp * b.cp * ep
    # the rows on the all-to-alls' wire: a row per token-expert pair, or per token and destination rank
    wire = moved if per_rank is None else _per_rank_rows(
        loads, mine, experts=experts, top_k=top_k, ep=ep, spread=spread, per_rank=per_rank, tokens=tokens,
        group_tokens=group * ep, sent=sent, received=-(-sum(here) // shards), even=strided)
    # a per-rank all-to-all's routing, which its pricing across nodes reads (the distinct nodes a token goes to),
    # with the chip's tokens and the wire rows: the NIC carries at most a row per token and remote node
    fanout = {} if per_rank is None else {"fanout": (experts, top_k, *per_rank, tokens, wire)}
    with b.scope(names.block):
        # without token shards every tensor-parallel chip routes every token: the router runs whole on each
        with b.replicated(None if shards == 1 else 1):
            logits = b.linear(x, experts, bias=form.router_bias, name=names.router)
        elems = tokens * experts
        topk = b._add(b._name("router_topk", "router_topk"), OpKind.ELEMENTWISE, [logits],
                      (*b.shape(x)[:-1], top_k), flops=(SOFTMAX_FLOPS + top_k) * elems, vector_elems=elems,
                      fn="router_topk", top_k=top_k)
        rows = b._add(b._name("dispatch", "dispatch"), OpKind.ELEMENTWISE, [x, topk], (1, max(sent, 1), hidden),
                      vector_elems=sent * hidden, fn="moe_dispatch")
        if ep > 1:  # with token shards: the rows of the chip's experts from its tensor-parallel rank's shards
            rows = b._add(b._name("all_to_all_dispatch", "a2a"), OpKind.COLLECTIVE, [rows],
                          (1, max(moved, 1), hidden), fn="all_to_all", group=ep, extent=span, wire_rows=wire, **fanout)
        if shards > 1:  # the width-split experts need their rows from every shard: gathered over the TP group
            # the rows the dispatch delivered, in its dtype (not a GEMM's output: gemm_output false keeps an 8-bit
            # activation dtype's, precision.moves_gemm_output, probe p114 #1)
            rows = b._collective(rows, "all_gather", (1, max(sum(here), 1), hidden), "experts_all_gather",
                                 group=b.tp, gemm_output=False)
        outs, start = [], 0
        for count, at in _groups(here):
            ids = [mine[j] for j in at]
            tag = _group_tag(ids)
            part = b.slice_tokens(rows, start, count * len(ids), name=f"{tag}.rows")
            start += count * len(ids)
            outs.append(_expert_group(b, part, tag, prefix, ids, count, width, hidden, act, names, form))
        idle = [mine[j] for j, c in enumerate(here) if not c]
        if not outs:  # every token dropped: the experts' output is zeros (nothing computed)
            outs = [rows]
        y = outs[0] if len(outs) == 1 else b.concat(outs, dim=1, name="expert_outputs")
        if idle:
            weights = [w for i in idle for w in _expert_weights(form, prefix, names, i, width, hidden)]
            y = b.unused_params(y, weights, name="idle_experts", linear=True, idle_experts=tuple(idle))
        if shards > 1:  # the experts' partial sums reduced and scattered back to the shards they came from
            y = b._collective(y, "reduce_scatter", (1, max(-(-sum(here) // shards), 1), hidden),
                              "experts_reduce_scatter", group=b.tp)
        if ep > 1:  # the experts' down_proj output: 16 bits under an 8-bit activation dtype, as DeepEP's "FP8
            # dispatching and BF16 combining" (precision.moves_gemm_output, probe p114 #1)
            y = b._collective(y, "all_to_all", (1, max(moved, 1), hidden), "all_to_all_combine", group=ep,
                              extent=span, gemm_output=True, wire_rows=wire, **fanout)
        out = b._add(b._name("combine", "combine"), OpKind.ELEMENTWISE, [y, topk], b.shape(x),
                     flops=2 * sent * hidden, vector_elems=sent * hidden, fn="moe_combine")
        if shards > 1:  # complete sums of the chip's tokens: sequence parallelism keeps the shard, else all-gathered
            return out if b.sp else b._collective(out, "all_gather", whole, "combine_all_gather", group=b.tp)
        if not reduce:
            return out
        return b._tp_out(out) if b.sp else b._all_reduce(out)  # sequence parallelism: reduce-scattered


def _group_tag(ids: Sequence[int]) -> str:
    """The scope of a grouped GEMM's experts ``ids``: ``experts_{i}`` for one, ``experts_{first}_{last}_step{s}``
    for every s-th (s > 1: a strided shard's, EP 16 under balanced routing holding 0, 16, ..., 240, which
    ``experts_0_240`` read as 241 experts: probe p114 #5), else ``experts_{first}_{last}`` (a contiguous run; its
    weights name each expert)."""
    if len(ids) == 1:
        return f"experts_{ids[0]}"
    step = ids[1] - ids[0]
    strided = step > 1 and all(b - a == step for a, b in zip(ids, ids[1:], strict=False))
    return f"experts_{ids[0]}_{ids[-1]}" + (f"_step{step}" if strided else "")


def _expert_group(b: TransformerBuilder, rows: str, tag: str, prefix: str, ids: list[int], count: int, width: int,
                  hidden: int, act: str, names: ExpertNames, form: ExpertForm) -> str:
    """The gated FFN of experts ``ids``, each over ``count`` token rows: grouped GEMMs (count = len(ids)); with
    ``form.fused_gate_up`` one GEMM gives gate and up (two views of its output)."""
    g = len(ids)

    def proj(x: str, proj_name: str, n: int, k: int) -> str:
        return b.matmul([x], (1, count * g, n), Gemm(m=count, n=n, k=k, count=g),
                        form.proj_weights(prefix, names, ids, proj_name, n, k), name=f"{tag}.{proj_name}",
                        experts=tuple(ids))

    if not form.gated:  # up → activation → down
        return proj(b.activation(proj(rows, names.up, width, hidden), act, name=f"{tag}.act_fn"), names.down, hidden,
                    width)
    if form.fused_gate_up:
        both = proj(rows, "gate_up_proj", 2 * width, hidden)
        gate, up = (b.view(both, (1, count * g, width), "slice", f"{tag}.{part}", strict=False, dim=2, start=i * width)
                    for i, part in enumerate(("gate", "up")))
    else:
        gate = proj(rows, names.gate, width, hidden)
        up = proj(rows, names.up, width, hidden)
    h = b.mul(b.activation(gate, act, name=f"{tag}.act_fn"), up, name=f"{tag}.mul")
    return proj(h, names.down, hidden, width)


def shared_expert(b: TransformerBuilder, x: str, ffn: int, act: str) -> str:
    """Qwen2-MoE's shared expert: sigmoid(shared_expert_gate(x)) · SwiGLU(x), always on. Inside
    :meth:`~.tlayers.TransformerBuilder.partial_sums` the SwiGLU's partial sums are scaled unreduced (the gate is
    one scalar per token: it commutes with the sum over the tensor-parallel shards)."""
    with b.scope("shared_expert"):
        y = b.swiglu_mlp(x, ffn)
    # one output: whole on every tensor-parallel chip, or on its token shard under sequence parallelism
    with b.replicated(None if b.whole_tokens else 1):
        g = b.linear(x, 1, bias=False, name="shared_expert_gate")
    g = b.vector(OpKind.ACTIVATION, [g], b.shape(g), "sigmoid", 4, name="shared_expert_sigmoid")
    return b.mul(y, g, name="shared_expert_scale")


__all__ = ["ExpertForm", "ExpertNames", "Loads", "Routing", "busiest_chip_experts", "busiest_shard", "dispatch_ranks", "expected_experts", "expert_loads", "expert_shards", "moe_layer", "rank_bound",
           "reach_from_loads", "shared_expert", "token_shards"]
