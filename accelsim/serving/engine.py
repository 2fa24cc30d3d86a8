"""One replica's engine, modelled on vLLM's V1 scheduler: paged KV blocks, continuous (or static) batching with a
token budget, chunked prefill, prefix caching and preemption of the newest request when blocks run out.

Each iteration (:meth:`Replica.schedule`) first gives every running request (oldest first) the tokens it still
needs, up to the budget (a decode needs one; a prefill the rest of its prompt, cut to the budget when
``chunked_prefill``); when the KV blocks it needs are not free, the newest running request is preempted (its
blocks freed; with ``recompute`` it will prefill again, with ``swap`` its KV goes to host memory and comes back
over the host link). Then, if nothing was preempted, waiting requests (first come, first served; a preempted one
goes first) are admitted while fewer than ``max_num_seqs`` run and budget and blocks remain (static batching
instead admits a whole batch into an empty engine only: :meth:`Replica._admit_batch`). With
``prefix_caching`` a request whose group's shared prefix is cached starts with those full blocks computed (shared,
reference counted; unreferenced cached blocks are evicted, least recently released first, when blocks run out), and
a request preempted by recompute leaves its own full computed blocks cached while free, to start with those still
there when it is readmitted (:meth:`KvPool.keep`). A swapped request's swap-in copies back the blocks it held when
it was swapped out (``Request.swapped_blocks``), not the new ones its next chunk takes.
When the iteration ends (:meth:`Replica.complete`) every request whose computed tokens reach its prompt plus its
generated tokens samples one more token; a request that has all its output tokens finishes and frees its blocks.

With expert parallelism (``ranks`` > 1) the replica is that many data-parallel engines stepping together: each rank
has its own KV blocks, ``max_num_seqs`` and ``max_num_batched_tokens``; a waiting request is admitted to the rank
with the fewest running sequences (the lowest index on a tie) whose limits and blocks take it (:meth:`Replica._ranks`),
runs there until it finishes or is preempted (a rank out of blocks preempts its own newest request), and the
iteration's counts over all ranks go to ``cost``.

With speculative decoding (``spec_tokens`` > 0) a decode verifies its last token and up to ``spec_tokens`` draft
tokens in one pass (as many as the budget and its remaining output allow; their KV blocks are taken as for any
tokens): ``accept`` says how many drafts were kept, and the request samples them and one token more at once. The
replica's ``draft`` prices the draft model's proposals in the same iteration (none for n-gram drafts).

A request with images (a vision-language model) runs each through the image encoder in the iteration whose prefill
chunk first reaches its positions (its images follow its shared prefix and lead the rest), as far as the iteration's encoder budget
(``encoder_budget`` image tokens, vLLM's max_num_encoder_input_tokens) goes: a chunk stops before an image the
budget cannot take. They run again after a preemption that drops its KV (``recompute``: vLLM frees a preempted
request's encoder outputs); the replica's ``encode`` prices that iteration's images on top of its tokens.

An encoder-decoder (Whisper) runs an encoder pass of its own for each request, over its audio, in the iteration of
the request's first prefill chunk (again after a preemption that drops its KV, ``recompute``; a swapped request keeps
its cross-attention K/V): ``encode_requests`` prices the iteration's new requests' passes on top of its tokens. Each
pass takes ``audio_tokens`` (Whisper's 1500 encoder positions) of the same encoder budget, and a request whose pass
the budget cannot take does not start this iteration (vLLM V1's _try_schedule_encoder_inputs with its
EncoderDecoderCacheManager: an encoder-decoder request at position 0 gets no tokens): with the default budget of
max(max_num_batched_tokens, 1500), up to 2999, one Whisper request starts an iteration.
"""

from __future__ import annotations

import math
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator

from ..config.serving import EngineConfig
from .requests import Request

EncoderCost = Callable[[int], float]
"""images encoded in an iteration → seconds of the image encoder's pass over them."""
IterationCost = Callable[..., float]
"""(prefill tokens, decode requests, sum of the decodes' KV lengths, the prefill chunks' attention scores Σ q·(c + q)
for a chunk of q tokens after c computed ones (a sliding window's layers: only the cached keys in its band,
:meth:`.cost.Footprint.scores`), the decodes' draft tokens verified) → seconds of the iteration."""
Acceptance = Callable[[Request, int], int]
"""(a request, the drafts it verified this iteration) → how many of them were accepted (its first ones)."""


def causal_scores(computed: int, new: int) -> int:
    """The query-key pairs of a prefill chunk of ``new`` tokens after ``computed`` ones when every layer attends to
    all earlier tokens (no sliding window): new·(computed + new), a replica's :attr:`Replica.scores` by default."""
    return new * (computed + new)


ITERATION_BYTES = 128
"""Memory one engine iteration keeps to the end of a run (its :class:`Samples` row, 48 B, its inter-token-latency
entries, and the outputs' copies of them). Measured with /usr/bin/time -v (maximum resident set size) on a 2-core
shared Linux x86-64 machine: ``accelsim serve llama2_7b_h100 -q --no-plots --set workload.requests=1000 --set
workload.duration=null --set workload.output_tokens.value=O --set engine.max_num_seqs=8 --set
engine.max_model_len=16384``, O = 2000 (250,106 iterations) and 8000 (1,000,106): 112 B an iteration between them
(299 B when each was a tuple in a list); rounded up."""


class Samples:
    """Each iteration of a replica as six typed columns (``start`` and ``seconds`` as doubles; ``running``,
    ``waiting``, ``used`` KV blocks and batch ``tokens`` as int64): 48 B an iteration (a run grew 299 B an iteration
    with a list of tuples, 112 B with these: :data:`ITERATION_BYTES`). Every sample is kept, as the outputs read them all (the KV use, the mean batch, trace.json) but
    timeseries.csv, which picks up to 5,000 evenly once the run's count is known. Iterating or slicing gives
    ``(start, seconds, running, waiting, used, tokens)`` tuples."""

    __slots__ = ("running", "seconds", "start", "tokens", "used", "waiting")

    def __init__(self) -> None:
        self.start, self.seconds = array("d"), array("d")
        self.running, self.waiting, self.used, self.tokens = array("q"), array("q"), array("q"), array("q")

    def append(self, start: float, seconds: float, running: int, waiting: int, used: int, tokens: int) -> None:
        self.start.append(start)
        self.seconds.append(seconds)
        self.running.append(running)
        self.waiting.append(waiting)
        self.used.append(used)
        self.tokens.append(tokens)

    def _columns(self) -> tuple[array, ...]:
        return self.start, self.seconds, self.running, self.waiting, self.used, self.tokens

    def __len__(self) -> int:
        return len(self.start)

    def __iter__(self) -> Iterator[tuple[float, float, int, int, int, int]]:
        return zip(*self._columns(), strict=True)

    def __getitem__(self, index: int | slice):
        if isinstance(index, slice):
            return list(zip(*(c[index] for c in self._columns()), strict=True))
        return tuple(c[index] for c in self._columns())


class KvPool:
    """The KV-cache blocks of one replica: free blocks, per prefix group its cached blocks and references, and per
    request preempted by recompute its own full blocks, cached while free (:meth:`keep`)."""

    def __init__(self, total: int):
        self.total = total
        self.free = total
        self.cached: dict[int, int] = {}  # group → cached prefix blocks
        self.refs: dict[int, int] = {}  # group → requests holding them
        self.kept: dict[int, int] = {}  # preempted request's id → its own cached blocks, none referenced
        # groups cached with no reference (their number) and kept requests (("request", id)), oldest first
        self.idle: OrderedDict[int | tuple[str, int], None] = OrderedDict()
        self.evictable = 0  # blocks of the idle groups and the kept requests

    @property
    def used(self) -> int:
        """Blocks holding KV that a request references."""
        return self.total - self.free - self.evictable

    def available(self) -> int:
        return self.free + self.evictable

    def take(self, n: int) -> None:
        """Allocate ``n`` blocks (``n`` <= :meth:`available`), evicting the least recently released idle cached
        blocks if need be: an idle group's prefix whole, a kept request's blocks only as many as are needed (its
        last ones first, so its first ones can still be hit: :meth:`keep`)."""
        while self.free < n:
            key = next(iter(self.idle))
            if isinstance(key, tuple):
                blocks = min(self.kept[key[1]], n - self.free)
                self.kept[key[1]] -= blocks
                if self.kept[key[1]] == 0:
                    del self.kept[key[1]], self.idle[key]
            else:
                blocks = self.cached.pop(key)
                del self.idle[key]
            self.evictable -= blocks
            self.free += blocks
        self.free -= n

    def keep(self, request: int, blocks: int) -> None:
        """A request preempted by recompute frees its blocks, but its own ``blocks`` full computed ones (after any
        of its group's cached prefix) keep their hashes: free, yet hit when it is readmitted, until an allocation
        evicts them. vLLM V1 (vllm/v1/core/kv_cache_manager.py ``KVCacheManager.free``, vllm-project/vllm commit
        003df296) frees a request's blocks in reverse order, "so that the tail blocks are evicted first when
        caching is enabled", onto the tail of block_pool.py's free_block_queue (commit 002f3491), whose head the
        next allocation pops, evicting a cached block's hash then (``_maybe_evict_cached_block``)."""
        self.reclaim(request)
        if blocks > 0:
            self.free -= blocks
            self.kept[request] = blocks
            self.idle[("request", request)] = None
            self.evictable += blocks

    def reclaim(self, request: int) -> int:
        """The kept blocks of ``request`` (0 when none are left), made free again: a readmitted request takes them
        back as its own (:meth:`take`)."""
        blocks = self.kept.pop(request, 0)
        if blocks:
            del self.idle[("request", request)]
            self.evictable -= blocks
            self.free += blocks
        return blocks

    def hits(self, group: int) -> int:
        """Cached blocks of ``group``'s prefix (0 when not cached)."""
        return self.cached.get(group, 0) if group >= 0 else 0

    def ref(self, group: int) -> None:
        if self.refs.get(group, 0) == 0 and group in self.idle:
            del self.idle[group]
            self.evictable -= self.cached[group]
        self.refs[group] = self.refs.get(group, 0) + 1

    def unref(self, group: int) -> None:
        self.refs[group] -= 1
        if self.refs[group] == 0:
            self.idle[group] = None
            self.evictable += self.cached[group]

    def drop(self, group: int) -> None:
        """Free ``group``'s cached blocks (no request may reference them)."""
        blocks = self.cached.pop(group)
        if group in self.idle:
            del self.idle[group]
            self.evictable -= blocks
        self.free += blocks

    def register(self, group: int, blocks: int) -> None:
        """A request's first ``blocks`` blocks become ``group``'s cached prefix (the request keeps a reference)."""
        self.cached[group] = blocks
        self.refs[group] = self.refs.get(group, 0) + 1


class Replica:
    """The scheduler state of one replica; ``cost`` prices an iteration."""

    def __init__(self, index: int, engine: EngineConfig, blocks: int, cost: IterationCost,
                 swap_s_per_block: float = 0.0, role: str = "both", swap_s_per_state: float = 0.0,
                 encode: EncoderCost | None = None, spec_tokens: int = 0, accept: Acceptance | None = None,
                 draft: IterationCost | None = None, image_tokens: int = 0, encoder_budget: int = 0,
                 held: Callable[[int, int], int] | None = None,
                 scores: Callable[[int, int], float] | None = None,
                 encode_requests: EncoderCost | None = None, audio_tokens: int = 0, ranks: int = 1):
        self.index = index
        self.role = role  # both, or with disaggregation prefill (hands requests off after their first token) or
        # decode
        self.handoff: list[Request] = []  # requests that left at the end of the last iteration
        self.e = engine
        # expert parallelism: ``ranks`` data-parallel ranks, each its own engine as vLLM's (--data-parallel-size
        # with --enable-expert-parallel): its own ``blocks`` KV blocks, up to max_num_seqs sequences and
        # max_num_batched_tokens tokens an iteration; a request runs on one rank (Request.rank, chosen when it is
        # admitted: :meth:`_ranks`), and the ranks step together (the MoE layers' all-to-alls)
        self.ranks = ranks
        self.pools = [KvPool(blocks) for _ in range(ranks)]
        self.pool = self.pools[0]  # the only one without expert parallelism
        self.kv_total = blocks * ranks  # every rank's blocks
        self.seqs = [0] * ranks  # each rank's running sequences
        # (slots, computed tokens) -> the KV blocks a sequence holds: with vLLM's hybrid KV-cache manager, a
        # sliding-window layer's blocks out of its window freed (Footprint.blocks); None: ceil(slots / block_size)
        self.held = held
        # (computed tokens, new prefill tokens) -> the query-key pairs the chunk attends to (Footprint.scores: a
        # sliding window's layers count only the cached keys in its band); None: new·(computed + new). The one
        # pricing of every prefill chunk, a running request's and one admitted with tokens already computed (a
        # prefix-cache hit, a later conversation turn, a swap-in with prefill left) alike
        self.scores = scores if scores is not None else causal_scores
        self.cost = cost
        self.encode = encode
        self.images = 0  # images to encode this iteration
        self.image_tokens = image_tokens  # prompt positions of one image (0: not known; a request's images go whole)
        # image and audio tokens the encoders may take an iteration (0: no limit)
        self.encoder_budget = encoder_budget
        self.encoder_left = 0  # of it, what this iteration has left
        self.encoded_images = 0  # in all iterations
        self.encoder_s = 0.0  # the encoder's seconds, in all iterations
        self.encode_requests = encode_requests  # requests → seconds of their own encoder passes (Whisper's)
        self.starting = 0  # requests whose prefill starts this iteration (their encoder passes)
        self.audio_tokens = audio_tokens  # of the encoder budget, what one request's pass takes (0: none)
        self.request_encoder_s = 0.0  # the per-request encoder's seconds, in all iterations
        self.spec_tokens = spec_tokens if accept is not None else 0
        self.accept = accept
        self.draft = draft
        self.draft_s = 0.0  # the draft model's seconds, in all iterations
        self.verify_steps = 0  # decodes that verified drafts
        self.swap_s_per_block = swap_s_per_block
        self.swap_s_per_state = swap_s_per_state  # a sequence's recurrent state (hybrid models) over the host link
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.batch: list[tuple[Request, int]] = []
        # this iteration's prefill tokens, decodes, their KV lengths' sum, attention scores, the decodes' drafts and
        # the decodes that draft
        self.mix = [0, 0, 0, 0, 0, 0]
        self.busy = False
        self.outstanding = 0  # tokens still to do over its requests (the least_tokens router's figure)
        self.preemptions = 0
        self.iterations = 0
        self.busy_s = 0.0
        self.started = 0.0  # when the iteration in flight started
        # inter-token latencies as (seconds, how many tokens had that gap): one entry per iteration for the tokens
        # whose request also had a token at the iteration's start, one per token for the others
        self.itl_s: array = array("d")
        self.itl_n: array = array("q")
        self.samples = Samples()  # each iteration's start, seconds, running, waiting, used blocks, batch tokens

    # ---- blocks ---------------------------------------------------------------------------------------------
    def _release(self, req: Request) -> None:
        self.pools[req.rank].free += req.blocks
        req.blocks = 0
        if req.shared:
            self.pools[req.rank].unref(req.group)
            req.shared = 0

    def _keep_history(self, req: Request) -> None:
        """A finished turn of a conversation that goes on (prefix caching): its full KV blocks become the
        conversation's cached blocks (the next turn's prompt starts with them), released with it to the idle
        cache, where they stay until blocks run out (vLLM keeps a finished request's full blocks by their hash)."""
        full = req.computed // self.e.block_size
        moved = full - req.shared
        if moved <= 0:
            return
        if req.shared:  # it holds its conversation's cached blocks: they grow by its own
            self.pools[req.rank].cached[req.group] += moved
        elif self.pools[req.rank].hits(req.group) == 0:
            self.pools[req.rank].register(req.group, moved)
        elif self.pools[req.rank].refs.get(req.group, 0) == 0 and self.pools[req.rank].cached[req.group] < full:
            # a turn swapped back in holds private copies of its conversation's idle cached blocks: its own,
            # longer history replaces them
            self.pools[req.rank].drop(req.group)
            self.pools[req.rank].register(req.group, moved)
        else:  # the group has cached blocks this request does not hold (not a conversation's turn)
            return
        req.shared, req.blocks = full, req.blocks - moved

    def _cache_prefix(self, req: Request) -> None:
        """``req`` has computed its shared prefix: its full blocks of it become its group's cached prefix, or grow
        the group's when it started from fewer (a group whose first request had a shorter prompt, its prefix cut
        to all but its last token): vLLM caches every full block it computes by its hash (of its parent's and its
        tokens), so a later request of the group hits them all (probe p99 #4: the group stayed at its first
        request's 3 blocks, 48 of a 100-token prefix, for the rest of the run). A request holding none of a cached
        group's blocks (admitted before they were cached) keeps its own copies: the cached ones are the same
        tokens."""
        blocks = req.prefix // self.e.block_size
        if req.shared:
            if self.pools[req.rank].cached[req.group] == req.shared < blocks:  # it holds the whole cached prefix: it grows
                moved = blocks - req.shared
                self.pools[req.rank].cached[req.group] += moved
                req.shared, req.blocks = blocks, req.blocks - moved
        elif self.pools[req.rank].hits(req.group) == 0:
            self.pools[req.rank].register(req.group, blocks)
            req.shared, req.blocks = blocks, req.blocks - blocks

    def _preempt(self, req: Request) -> float:
        """Preempt ``req`` (it goes first in the queue); returns the seconds of its swap-out."""
        if self.running[-1] is req:  # always the newest, so far
            self.running.pop()
        else:
            self.running.remove(req)
        before = req.remaining
        seconds, own = 0.0, 0
        if self.e.preemption == "swap":
            req.swapped_blocks = req.blocks + req.shared  # what its swap-in copies back (probe p281 #1)
            seconds = req.swapped_blocks * self.swap_s_per_block + self.swap_s_per_state
            req.swapped = True
        else:
            if self.e.prefix_caching:  # its own full computed blocks stay cached while free (probe p281 #2)
                own = min(req.computed // self.e.block_size - req.shared, req.blocks)
                req.kept_from = req.shared
            req.computed = 0
            req.encoded = 0
            req.audio_encoded = False
        if self.e.prefix_caching and not req.swapped:  # vLLM frees the last blocks first: its own go idle before
            # its group's prefix (released next), so they are evicted first
            self.pools[req.rank].free += req.blocks
            req.blocks = 0
            self.pools[req.rank].keep(req.id, own)
        self._release(req)
        self.seqs[req.rank] -= 1
        req.preemptions += 1
        self.preemptions += 1
        self.outstanding += req.remaining - before
        self.waiting.appendleft(req)
        return seconds

    # ---- one iteration --------------------------------------------------------------------------------------
    def _schedule_running(self, budget: int) -> tuple[list[int], float, bool]:
        """Tokens for the running requests, oldest first (preempting the newest of its rank when its rank's blocks
        run out): each rank's budget left (``budget`` each to start), the swap-out seconds, whether any was
        preempted; counts the replica's decodes and their KV in ``self.mix``."""
        extra, preempted, i = 0.0, False, 0
        running, batch = self.running, self.batch
        decodes = kv = scores = drafts = drafting = 0
        spec = self.spec_tokens
        budgets = [budget] * self.ranks
        spent = 0  # ranks whose budget is used up
        # static batching: the batch decodes once every one of its requests has its first token
        hold = self.e.policy == "static" and any(r.generated == 0 or r.prompt + r.generated - r.computed > 1
                                                 for r in running)
        while i < len(running) and spent < self.ranks:
            req = running[i]
            budget = budgets[req.rank]
            if budget == 0:  # its rank's budget is used up
                i += 1
                continue
            new = req.prompt + req.generated - req.computed
            if hold and new == 1 and req.generated:  # a decode waits for the batch's prefills
                i += 1
                continue
            if spec and new == 1 and req.generated:  # a decode verifies drafts beside its token
                req.drafts = min(spec, req.output - req.generated - 1, budget - 1)
                new += req.drafts
            if new > budget:
                new = budget if self.e.chunked_prefill else 0
                if new == 0:
                    i += 1
                    continue
            new, enc, blocked = self._encoder_gate(req, new)
            if blocked:
                i += 1
                continue
            swapped, hit, kept = self._grow(req, new, i)
            extra, preempted = extra + swapped, preempted or hit
            if not kept:  # req itself was preempted
                if self.ranks == 1:
                    break
                continue  # running[i] is now the next request (only later ones were preempted before it)
            batch.append((req, new))
            budgets[req.rank] = budget - new
            if budget == new:
                spent += 1
            i += 1
            if new == 1 and req.generated:
                decodes += 1
                kv += req.computed + 1
            elif spec and req.drafts and new == 1 + req.drafts:
                decodes += 1
                kv += req.computed + 1
                drafts += req.drafts
                drafting += 1
            else:
                scores += self.scores(req.computed, new)
                self._encode(req, enc)
                self._start(req)
        tokens = self.e.max_num_batched_tokens * self.ranks - sum(budgets)
        self.mix = [tokens - decodes - drafts, decodes, kv, scores, drafts, drafting]
        return budgets, extra, preempted

    def _grow(self, req: Request, new: int, i: int) -> tuple[float, bool, bool]:
        """Give the running ``req`` (``self.running[i]``) the KV blocks ``new`` more tokens need, preempting the
        newest request of its rank while its rank's pool cannot (:meth:`_schedule_running`); a window slid past
        frees blocks (hybrid KV cache; never with prefix caching's shared blocks): (swap-out seconds, whether any was
        preempted, whether ``req`` still runs)."""
        pool = self.pools[req.rank]
        need = (self.held(req.computed + new, req.computed) if self.held
                else -(-(req.computed + new) // self.e.block_size)) - req.blocks - req.shared
        extra, preempted = 0.0, False
        if need < 0:
            pool.free -= need
            req.blocks += need
        elif need > 0:
            while need > pool.free + pool.evictable:
                victim = self._newest(req.rank)
                extra += self._preempt(victim)
                preempted = True
                if victim is req:
                    break
            if i >= len(self.running) or self.running[i] is not req:
                return extra, preempted, False
            pool.take(need)
            req.blocks += need
        return extra, preempted, True

    def _newest(self, rank: int) -> Request:
        """The newest running request on ``rank`` (the one vLLM preempts when the rank's blocks run out)."""
        if self.ranks == 1:
            return self.running[-1]
        return next(r for r in reversed(self.running) if r.rank == rank)

    def _ranks(self, budgets: list[int]) -> list[int]:
        """The ranks a waiting request may be admitted to, in the order they are tried: those with fewer than
        ``max_num_seqs`` sequences and some of their token budget left, the fewest running sequences first, the
        lowest index on a tie (vLLM's DP coordinator sends a request to the least loaded engine; here it is
        chosen at admission, among the ranks whose limits take it)."""
        if self.ranks == 1:
            return [0] if self.seqs[0] < self.e.max_num_seqs and budgets[0] > 0 else []
        cap = self.e.max_num_seqs
        return sorted((r for r in range(self.ranks) if self.seqs[r] < cap and budgets[r] > 0),
                      key=lambda r: (self.seqs[r], r))

    def _admit(self, req: Request, budget: int, whole: bool = False) -> tuple[int, float] | None:
        """Admit the waiting ``req`` if budget and blocks allow: (tokens, swap-in seconds), else None. ``whole``
        (static batching): no tokens this iteration (the batch's prefills then run as the budget allows), but the
        KV blocks of everything it computes before its next token, taken now, if they are free."""
        hits = own = 0
        if self.e.prefix_caching and not req.swapped and not req.kv_ready and req.computed == 0:
            hits = min(self.pools[req.rank].hits(req.group), req.prefix // self.e.block_size)
            own = self._own_hits(req, hits)
        start = req.computed if req.swapped or req.kv_ready else (hits + own) * self.e.block_size
        new = req.prompt + req.generated - start
        enc = 0
        if whole:
            blocks_to = req.prompt + req.generated
            new = 0
        else:
            new = new if new <= budget else (budget if self.e.chunked_prefill else 0)
            if new and req.encoded < req.images:
                new, enc = self._encodable(req, start, new)
            if new == 0 or not self._audio_fits(req):
                return None
            blocks_to = start + new
        before = req.remaining
        # an idle cached group leaves the evictable blocks whole when referenced (KvPool.ref), not only its hits
        idle_hit = self.pools[req.rank].cached[req.group] if hits and self.pools[req.rank].refs.get(req.group, 0) == 0 else 0
        need = (self.held(blocks_to, start) if self.held else -(-blocks_to // self.e.block_size)) - hits
        if need > self.pools[req.rank].available() - idle_hit:
            return None
        if hits:
            self.pools[req.rank].ref(req.group)
            req.shared = hits
        if own:
            self.pools[req.rank].reclaim(req.id)
            if self.image_tokens:  # its images wholly in the blocks hit have their KV: not encoded again
                req.encoded = min(max(start - req.prefix, 0) // self.image_tokens, req.images)
        if hits or own:
            req.cached_tokens = max(req.cached_tokens, start)
        self.pools[req.rank].take(need)
        req.blocks = need
        req.computed = start
        req.kv_ready = False
        self.outstanding += req.remaining - before
        seconds = 0.0
        if req.swapped:  # its blocks on host memory come back, not the new ones of its chunk (probe p281 #1)
            seconds = req.swapped_blocks * self.swap_s_per_block + self.swap_s_per_state
            req.swapped = False
        self._encode(req, enc)
        return new, seconds

    def _own_hits(self, req: Request, hits: int) -> int:
        """Of the blocks a request preempted by recompute kept cached on its rank (:meth:`KvPool.keep`), those it is
        readmitted with beyond its group's ``hits``: its blocks follow the ``kept_from`` group blocks it held, so they
        are hit only while the group still has that many cached (a block's hash chains its parent's); the last
        token is always computed (vLLM V1's ``max_cache_hit_length = num_tokens - 1``)."""
        kept = self.pools[req.rank].kept.get(req.id, 0)
        if not kept or hits < req.kept_from:
            return 0
        cap = (req.prompt + req.generated - 1) // self.e.block_size
        return max(min(req.kept_from + kept, cap) - hits, 0)

    def _encodable(self, req: Request, start: int, new: int) -> tuple[int, int]:
        """How much of ``req``'s prefill chunk of ``new`` tokens from ``start`` can run, and the images it has to
        encode for it (vLLM V1's _try_schedule_encoder_inputs). Image i takes positions [P + i·t, P + (i + 1)·t)
        (t = ``image_tokens``, P the shared prefix); a chunk reaching an image not yet encoded encodes it
        this iteration, as far as the iteration's encoder budget goes, and otherwise stops before that image (0:
        the request waits). Without ``image_tokens`` every image is encoded with the first chunk. The images follow
        the request's shared prefix (``prefix`` tokens; a system prompt) and lead the rest of its prompt."""
        t = self.image_tokens
        if not t:
            return new, req.images - req.encoded
        reach = min(-(-max(start + new - req.prefix, 0) // t), req.images)
        need = reach - req.encoded
        if need <= 0:
            return new, 0
        afford = min(need, self.encoder_left // t) if self.encoder_budget else need
        if afford < need:
            new = max(min(new, req.prefix + (req.encoded + afford) * t - start), 0)
        return new, afford if new else 0

    def _encode(self, req: Request, images: int) -> None:
        """A scheduled prefill chunk of ``req``: ``images`` of its images join this iteration's encoder pass."""
        if images:
            self.images += images
            req.encoded += images
            self.encoder_left -= images * self.image_tokens

    def _encoder_gate(self, req: Request, new: int) -> tuple[int, int, bool]:
        """A running request's prefill chunk of ``new`` tokens as its encoders allow: (tokens, images encoded with
        them, whether it waits): a chunk reaching images not yet encoded takes what the image budget allows
        (:meth:`_encodable`; none: it waits), and one whose own encoder pass (Whisper's) the budget cannot take waits
        (:meth:`_audio_fits`)."""
        enc = 0
        if req.encoded < req.images:
            new, enc = self._encodable(req, req.computed, new)
            if new == 0:
                return new, enc, True
        return new, enc, not self._audio_fits(req)

    def _audio_fits(self, req: Request) -> bool:
        """Whether a prefill chunk of ``req`` can run this iteration as far as its own encoder pass goes: it has one
        since its KV was last dropped, or the iteration's encoder budget has ``audio_tokens`` left (vLLM's
        EncoderDecoderCacheManager.can_allocate)."""
        return (not self.audio_tokens or self.encode_requests is None or req.audio_encoded or not self.encoder_budget
                or self.encoder_left >= self.audio_tokens)

    def _start(self, req: Request) -> None:
        """A scheduled prefill chunk of ``req``: with a per-request encoder, its pass joins this iteration's when
        the request has none since its KV was last dropped (and takes ``audio_tokens`` of the encoder budget)."""
        if self.encode_requests is not None and not req.audio_encoded:
            req.audio_encoded = True
            self.starting += 1
            self.encoder_left -= self.audio_tokens

    def _admit_batch(self, now: float) -> float:
        """Static batching into an empty engine: the waiting requests, first come first served, while fewer than
        ``max_num_seqs`` run and the KV blocks of their prompts are free (:meth:`_admit` ``whole``); their prefills
        then run over as many iterations as the token budget needs (:meth:`_schedule_running`), and the batch
        decodes once all have their first tokens. Returns the swap-in seconds."""
        seconds = 0.0
        room = [1] * self.ranks  # no token budget is taken at admission here
        while self.waiting:
            admitted = self._admit_to(self.waiting[0], room, whole=True)
            if admitted is None:
                break
            req = self.waiting.popleft()
            req.drafts = 0
            seconds += admitted[1]
            self.running.append(req)
            self.seqs[req.rank] += 1
            if math.isnan(req.scheduled):
                req.scheduled = now
            if self.role == "decode" and math.isnan(req.decoding):  # a handed-off request's first decode step
                req.decoding = now
        return seconds

    def _admit_to(self, req: Request, budgets: list[int], whole: bool = False) -> tuple[int, float] | None:
        """Admit the waiting ``req`` to the first rank of :meth:`_ranks` whose budget and blocks allow
        (:meth:`_admit`; ``req.rank`` says which): (tokens, swap-in seconds), else None."""
        for rank in self._ranks(budgets):
            req.rank = rank
            admitted = self._admit(req, budgets[rank], whole)
            if admitted is not None:
                return admitted
        return None

    def schedule(self, now: float) -> float:
        """Choose this iteration's batch (in ``self.batch``); returns its seconds (0 when there is nothing)."""
        self.batch = []
        self.encoder_left = self.encoder_budget
        static = self.e.policy == "static"
        swap_in = self._admit_batch(now) if static and not self.running else 0.0
        budgets, extra, preempted = self._schedule_running(self.e.max_num_batched_tokens)
        extra += swap_in
        while self.waiting and not preempted and not static:
            admitted = self._admit_to(self.waiting[0], budgets)
            if admitted is None:
                break
            req = self.waiting.popleft()
            req.drafts = 0  # a swapped-in request's next token is verified alone
            new, seconds = admitted
            extra += seconds
            self.running.append(req)
            self.seqs[req.rank] += 1
            self.batch.append((req, new))
            budgets[req.rank] -= new
            if math.isnan(req.scheduled):
                req.scheduled = now
            if self.role == "decode" and math.isnan(req.decoding):  # a handed-off request's first decode step
                req.decoding = now
            if new == 1 and req.generated:  # a swapped-in request's next token
                self.mix[1] += 1
                self.mix[2] += req.computed + 1
            else:
                self.mix[0] += new
                self.mix[3] += self.scores(req.computed, new)
                self._start(req)
        if not self.batch:
            return 0.0
        prefill, decodes, kv, scores, drafts, drafting = self.mix
        if drafts:
            seconds = max(self.cost(prefill, decodes, kv, scores, drafts), 0.0)  # not < 0
        else:
            seconds = max(self.cost(prefill, decodes, kv, scores), 0.0)
        seconds += extra + self.e.step_overhead
        if self.draft is not None and (prefill or drafting):  # the draft model follows the prompts and proposes
            proposed = max(self.draft(prefill, decodes, kv, scores, drafts, drafting), 0.0)
            self.draft_s += proposed
            seconds += proposed
        if self.images:
            encoder = max(self.encode(self.images), 0.0) if self.encode is not None else 0.0
            self.encoded_images += self.images
            self.encoder_s += encoder
            seconds += encoder
            self.images = 0
        if self.starting:
            encoder = max(self.encode_requests(self.starting), 0.0) if self.encode_requests is not None else 0.0
            self.request_encoder_s += encoder
            seconds += encoder
            self.starting = 0
        used = self.pool.used if self.ranks == 1 else sum(p.used for p in self.pools)
        self.samples.append(now, seconds, len(self.running), len(self.waiting), used,
                            prefill + decodes + drafts)
        self.iterations += 1
        self.busy_s += seconds
        self.started = now
        return seconds

    def complete(self, now: float, finished: list[Request]) -> None:
        """End the iteration at ``now``: advance the batch's requests; the ones done go to ``finished``, those a
        prefill replica hands to a decode replica to ``self.handoff``."""
        self.handoff = []
        done = False
        caching, bs = self.e.prefix_caching, self.e.block_size
        delta = regular = 0
        spec = self.spec_tokens
        for req, new in self.batch:
            if req.computed < req.prompt:  # a prefill (chunk): prompt tokens done, maybe the group's prefix
                delta -= min(req.computed + new, req.prompt) - req.computed
                req.computed += new
                if caching and req.group >= 0 and bs <= req.prefix <= req.computed:
                    self._cache_prefix(req)
            elif spec and req.drafts:  # a decode with drafts: its token and the drafts accepted have KV, then one more
                kept = self.accept(req, req.drafts)  # type: ignore[misc]
                self.verify_steps += 1
                req.drafted += req.drafts
                req.accepted += kept
                req.computed += 1 + kept
                req.generated += kept
                delta -= kept
                req.drafts = 0
            else:
                req.computed += new
            if req.computed == req.prompt + req.generated:
                req.generated += 1
                delta -= 1
                if req.generated == 1:
                    req.first_token = now
                    if self.role == "prefill" and req.output > 1:  # its KV goes to a decode replica
                        self._release(req)
                        self.seqs[req.rank] -= 1
                        req.kv_ready = True
                        self.handoff.append(req)
                        delta -= req.remaining
                        req.last_token = now
                        done = True
                        continue
                elif req.last_token == self.started:
                    regular += 1
                else:
                    self.itl_s.append(now - req.last_token)
                    self.itl_n.append(1)
                req.last_token = now
                if req.generated == req.output:
                    req.finish = now
                    if caching and req.follow is not None and not req.follow.refused:
                        self._keep_history(req)
                    self._release(req)
                    self.seqs[req.rank] -= 1
                    finished.append(req)
                    done = True
        self.outstanding += delta
        if regular:
            self.itl_s.append(now - self.started)
            self.itl_n.append(regular)
        if done:
            self.running = [r for r in self.running if math.isnan(r.finish) and not r.kv_ready]
        self.batch = []
