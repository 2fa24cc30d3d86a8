"""Measure whole models and sustained power on one NVIDIA GPU with PyTorch, as held-out checks of accelsim.

    python benchmarks/kernels/measure_model.py --out DIR [--budget-s 300] [--sections infer,train,power] [--dry]

Needs PyTorch with CUDA (an optional extra; accelsim never imports this). The models are written out here in plain
PyTorch, op for op as Hugging Face's ``LlamaForCausalLM`` runs them (separate q/k/v/o and gate/up/down
projections, ``F.rms_norm``, rotate-half RoPE, ``F.silu(g) * u``, residual adds, the final norm and an untied
``lm_head`` over every position), with random weights (no download): the kernels and their shapes are a real
model's, the values are not. Rows are written one at a time, so a run cut short keeps what it measured; every row
ends with the SM clock and board power (NVML) read just after its timing.

* ``DIR/llama_inference.csv`` (``model,dtype,phase,batch,seq_len,kv_len,mode,latency_us``): LLaMA-2-7B
  (meta-llama/Llama-2-7b-hf's config) in bf16. ``prefill``: ``seq_len`` prompt tokens, causal attention, K/V
  copied into a cache (as HF's static cache); ``decode``: one token per sequence against a cache of ``kv_len``
  tokens (a new K/V row written at position kv_len, attention over kv_len + 1 keys). Attention is
  ``F.scaled_dot_product_attention`` on the FLASH backend. ``mode`` ``graph``: the whole forward captured in one
  CUDA graph and replayed back to back (device time, no host launches); ``eager``: the forward called from Python
  and synchronized each time (the wall time of one step with the host launching every kernel), median of the
  calls.
* ``DIR/llama_training.csv`` (``model,dtype,phase,batch,seq_len,params,mode,latency_us``): TinyLlama-1.1B
  (TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T's config: 22 layers, hidden 2048, GQA 32/4 heads) with
  bf16 weights; ``phase`` ``train_fwd_bwd``: forward, cross-entropy over every position and backward (eager,
  CUDA events around each of several steps, the median); ``optimizer``: one fused ``torch.optim.AdamW`` step over
  an fp32 master copy of every parameter with fp32 gradients (Megatron's mixed-precision optimizer; the casts
  between the bf16 and fp32 copies are not timed). No dropout.
* ``DIR/encoders_inference.csv`` (llama_inference.csv's columns; ``phase`` "forward", ``seq_len`` the image side
  for ResNet-50): torchvision's ResNet-50 (channels_last, eval batch norms as their own kernels) at batch 1, 32,
  128 × 224², and HF's BertModel (bert-base-uncased's config, SDPA attention, no mask, the pooler) at batch 1 and
  32 × 128 tokens and 8 × 512, bf16, each as a CUDA graph and eagerly, as the LLaMA rows.
* ``DIR/hf_check.csv`` (section ``hf``, not in the default list): BERT-base and the LLaMA-2-7B prefill through
  transformers itself, to check the plain-PyTorch models against the library they copy.
* ``DIR/power.csv`` (``what,dtype,m,n,k,seconds,calls,latency_us,tflops,power_w_mean,sm_clock_mhz_mean,
  samples``): each large GEMM dtype and a device copy run back to back for a few seconds with NVML read every
  0.1 s (the last two thirds averaged), and the idle board: held-out data for an energy model.
* ``DIR/env.txt`` and ``DIR/log.txt`` as measure_gpu.py writes them.

``--dry`` runs tiny shapes on the CPU (no graphs, no NVML) to check the script without a GPU.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure_gpu import Clock, Csv, Timer, _fp8_works, gpu_state, log, parse_cli, run_sections  # noqa: E402

# meta-llama/Llama-2-7b-hf config.json
LLAMA2_7B = dict(hidden=4096, inter=11008, layers=32, heads=32, kv_heads=32, vocab=32000, eps=1e-5, theta=1e4)
# TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T config.json
TINYLLAMA = dict(hidden=2048, inter=5632, layers=22, heads=32, kv_heads=4, vocab=32000, eps=1e-5, theta=1e4)
DRY = dict(hidden=64, inter=128, layers=2, heads=4, kv_heads=2, vocab=100, eps=1e-5, theta=1e4)

PREFILL = [(1, 128), (1, 512), (1, 2048), (4, 2048)]  # (batch, seq_len)
DECODE = [(1, 128), (1, 512), (1, 2048), (1, 4096), (8, 2048), (32, 512), (32, 2048), (64, 1024), (128, 512)]
TRAIN = [(1, 2048), (4, 2048), (8, 2048)]  # (batch, seq_len)
POWER_GEMM = 8192


class Llama:
    """LLaMA's forward in plain PyTorch, HF's ops in HF's order; weights are tensors (``grad`` to train)."""

    def __init__(self, torch, cfg: dict, dtype, dev: str, grad: bool = False, seed: int = 0):
        self.torch, self.c, self.dtype = torch, cfg, dtype
        g = torch.Generator(device=dev).manual_seed(seed)
        h, d = cfg["hidden"], cfg["hidden"] // cfg["heads"]
        kvd = cfg["kv_heads"] * d

        def w(*shape):
            t = (torch.randn(*shape, device=dev, dtype=dtype, generator=g) * 0.02)
            return t.requires_grad_(grad)

        def ones(n):
            return torch.ones(n, device=dev, dtype=dtype).requires_grad_(grad)

        self.emb = w(cfg["vocab"], h)
        self.layers = [dict(ln1=ones(h), q=w(h, h), k=w(kvd, h), v=w(kvd, h), o=w(h, h), ln2=ones(h),
                            gate=w(cfg["inter"], h), up=w(cfg["inter"], h), down=w(h, cfg["inter"]))
                       for _ in range(cfg["layers"])]
        self.norm = ones(h)
        self.head = w(cfg["vocab"], h)
        self.inv_freq = 1.0 / (cfg["theta"] ** (torch.arange(0, d, 2, device=dev, dtype=torch.float32) / d))

    def params(self):
        out = [self.emb, self.norm, self.head]
        for layer in self.layers:
            out += list(layer.values())
        return out

    def rope_tables(self, start: int, n: int):
        torch = self.torch
        pos = torch.arange(start, start + n, device=self.inv_freq.device, dtype=torch.float32)
        f = torch.outer(pos, self.inv_freq)
        e = torch.cat([f, f], dim=-1)
        return e.cos().to(self.dtype), e.sin().to(self.dtype)

    def _rot(self, x):
        half = x.shape[-1] // 2
        return self.torch.cat([-x[..., half:], x[..., :half]], dim=-1)

    def forward(self, ids, cos, sin, caches=None, pos: int = 0, causal: bool = True, be=None):
        """Logits of ``ids`` (batch, s). ``caches``: per layer (K, V) of (batch, kv_heads, L, d): the new K/V rows
        are written at ``pos`` and attention reads rows [0, pos + s) of them; None: attention over ``ids`` alone."""
        torch, c = self.torch, self.c
        F = torch.nn.functional
        from torch.nn.attention import sdpa_kernel

        b, s = ids.shape
        nh, nkv = c["heads"], c["kv_heads"]
        d = c["hidden"] // nh
        x = F.embedding(ids, self.emb)
        for i, L in enumerate(self.layers):
            y = F.rms_norm(x, (c["hidden"],), L["ln1"], c["eps"])
            q = F.linear(y, L["q"]).view(b, s, nh, d).transpose(1, 2)
            k = F.linear(y, L["k"]).view(b, s, nkv, d).transpose(1, 2)
            v = F.linear(y, L["v"]).view(b, s, nkv, d).transpose(1, 2)
            q = q * cos + self._rot(q) * sin
            k = k * cos + self._rot(k) * sin
            if caches is not None:
                kc, vc = caches[i]
                kc[:, :, pos:pos + s].copy_(k)
                vc[:, :, pos:pos + s].copy_(v)
                k, v = kc[:, :, :pos + s], vc[:, :, :pos + s]
            with sdpa_kernel(be):
                a = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=nkv != nh)
            a = a.transpose(1, 2).reshape(b, s, c["hidden"])
            x = x + F.linear(a, L["o"])
            y = F.rms_norm(x, (c["hidden"],), L["ln2"], c["eps"])
            x = x + F.linear(F.silu(F.linear(y, L["gate"])) * F.linear(y, L["up"]), L["down"])
        x = F.rms_norm(x, (c["hidden"],), self.norm, c["eps"])
        return F.linear(x, self.head)


# torchvision's resnet50: (blocks, width) per stage, Bottleneck expansion 4
RESNET50 = [(3, 64), (4, 128), (6, 256), (3, 512)]
# google-bert/bert-base-uncased config.json
BERT_BASE = dict(hidden=768, inter=3072, layers=12, heads=12, vocab=30522, positions=512, types=2, eps=1e-12)
ENCODER_ROWS = [("resnet50", 1, 224), ("resnet50", 32, 224), ("resnet50", 128, 224),
                ("bert_base", 1, 128), ("bert_base", 32, 128), ("bert_base", 8, 512)]  # (model, batch, seq / image)


class ResNet50:
    """torchvision's resnet50 in eval mode, op for op as PyTorch eager runs it: each conv (cuDNN, channels_last),
    then its batch norm with the running statistics (a kernel of its own: eager PyTorch does not fold it), ReLU,
    the bottleneck's downsample branch and residual add; max pool, average pool, fc."""

    def __init__(self, torch, dtype, dev: str, stages=RESNET50, classes: int = 1000):
        self.torch, self.F = torch, torch.nn.functional
        g = torch.Generator(device=dev).manual_seed(2)
        self.cl = torch.channels_last

        def conv(cin, cout, k):
            w = torch.randn(cout, cin, k, k, device=dev, dtype=dtype, generator=g) * (2.0 / (cin * k * k)) ** 0.5
            return w.contiguous(memory_format=self.cl)

        def bn(c):
            return [torch.ones(c, device=dev, dtype=dtype), torch.zeros(c, device=dev, dtype=dtype),
                    torch.zeros(c, device=dev, dtype=dtype), torch.ones(c, device=dev, dtype=dtype)]

        self.stem = (conv(3, 64, 7), bn(64))
        self.blocks = []
        cin = 64
        for i, (n, width) in enumerate(stages):
            for j in range(n):
                stride = 2 if (j == 0 and i > 0) else 1
                down = (conv(cin, width * 4, 1), bn(width * 4)) if j == 0 else None
                self.blocks.append(dict(c1=(conv(cin, width, 1), bn(width)), c2=(conv(width, width, 3), bn(width)),
                                        c3=(conv(width, width * 4, 1), bn(width * 4)), down=down, stride=stride))
                cin = width * 4
        self.fc = (torch.randn(classes, cin, device=dev, dtype=dtype, generator=g) * 0.01,
                   torch.zeros(classes, device=dev, dtype=dtype))

    def _cbn(self, x, cw, stride=1, relu=True):
        F = self.F
        w, (gamma, beta, mean, var) = cw
        k = w.shape[-1]
        x = F.conv2d(x, w, None, stride, k // 2)
        x = F.batch_norm(x, mean, var, gamma, beta, False, 0.0, 1e-5)
        return F.relu(x, inplace=True) if relu else x

    def forward(self, x):
        F = self.F
        x = self._cbn(x, self.stem, 2)
        x = F.max_pool2d(x, 3, 2, 1)
        for b in self.blocks:
            y = self._cbn(x, b["c1"])
            y = self._cbn(y, b["c2"], b["stride"])
            y = self._cbn(y, b["c3"], relu=False)
            idn = self._cbn(x, b["down"], b["stride"], relu=False) if b["down"] else x
            x = F.relu(y + idn, inplace=True)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.linear(x, *self.fc)


class Bert:
    """HF transformers' BertModel (SDPA attention, no mask) in eval mode, op for op: word + position + token-type
    embeddings and their LayerNorm; per layer separate query / key / value linears, SDPA, the context's
    transpose-and-reshape copy, output dense, residual add and LayerNorm, intermediate dense, GELU (erf), output
    dense, add and LayerNorm; the pooler's dense and tanh on the first token."""

    def __init__(self, torch, cfg: dict, dtype, dev: str):
        self.torch, self.F, self.c = torch, torch.nn.functional, cfg
        g = torch.Generator(device=dev).manual_seed(4)
        h, f = cfg["hidden"], cfg["inter"]

        def w(*shape):
            return torch.randn(*shape, device=dev, dtype=dtype, generator=g) * 0.02

        def z(n):
            return torch.zeros(n, device=dev, dtype=dtype)

        def ln():
            return (torch.ones(h, device=dev, dtype=dtype), z(h))

        self.emb = (w(cfg["vocab"], h), w(cfg["positions"], h), w(cfg["types"], h), ln())
        self.layers = [dict(q=(w(h, h), z(h)), k=(w(h, h), z(h)), v=(w(h, h), z(h)), o=(w(h, h), z(h)), ln1=ln(),
                            i=(w(f, h), z(f)), d=(w(h, f), z(h)), ln2=ln()) for _ in range(cfg["layers"])]
        self.pool = (w(h, h), z(h))

    def forward(self, ids, pos, types, be=None):
        torch, F, c = self.torch, self.F, self.c
        from torch.nn.attention import sdpa_kernel

        b, s = ids.shape
        h, nh = c["hidden"], c["heads"]
        word, position, token, (g0, b0) = self.emb
        x = F.embedding(ids, word) + F.embedding(pos, position) + F.embedding(types, token)
        x = F.layer_norm(x, (h,), g0, b0, c["eps"])
        for L in self.layers:
            q, k, v = (F.linear(x, *L[n]).view(b, s, nh, h // nh).transpose(1, 2) for n in ("q", "k", "v"))
            with sdpa_kernel(be):
                a = F.scaled_dot_product_attention(q, k, v)
            a = a.transpose(1, 2).reshape(b, s, h)
            x = F.layer_norm(F.linear(a, *L["o"]) + x, (h,), *L["ln1"], c["eps"])
            y = F.linear(F.gelu(F.linear(x, *L["i"])), *L["d"])
            x = F.layer_norm(y + x, (h,), *L["ln2"], c["eps"])
        return x, torch.tanh(F.linear(x[:, 0], *self.pool))


def encoders_section(torch, timer: Timer, out: Path, clock: Clock, dev: str, dry: bool) -> None:
    """ResNet-50 and BERT-base inference, graph and eager, into ``encoders_inference.csv`` (llama_inference.csv's
    columns; ``seq_len`` is the image side for ResNet-50, ``phase`` "forward")."""
    from torch.nn.attention import SDPBackend

    cols = ["model", "dtype", "phase", "batch", "seq_len", "kv_len", "mode", "latency_us"]
    csv = Csv(out / "encoders_inference.csv", cols, torch if dev == "cuda" else None)
    dt = torch.float32 if dry else torch.bfloat16
    rows = [("resnet50", 2, 32), ("bert_base", 2, 16)] if dry else ENCODER_ROWS
    nets = {"resnet50": ResNet50(torch, dt, dev, [(1, 8), (1, 16)] if dry else RESNET50),
            "bert_base": Bert(torch, dict(BERT_BASE, layers=2, hidden=64, inter=128, heads=4) if dry else BERT_BASE,
                              dt, dev)}
    be = [SDPBackend.MATH] if dry else [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]
    with torch.no_grad():
        for model, b, s in rows:
            if clock.left() < 30:
                log(f"encoders: out of time before {model} b{b}")
                return
            try:
                net = nets[model]
                if model == "resnet50":
                    x = torch.randn(b, 3, s, s, device=dev, dtype=dt).contiguous(memory_format=torch.channels_last)

                    def fn(x=x, net=net):
                        net.forward(x)
                else:
                    ids = torch.randint(0, BERT_BASE["vocab"] if not dry else 100, (b, s), device=dev)
                    pos = torch.arange(s, device=dev).expand(b, s)
                    types = torch.zeros(b, s, dtype=torch.long, device=dev)

                    def fn(ids=ids, pos=pos, types=types, net=net):
                        net.forward(ids, pos, types, be)
                time_modes(torch, timer, fn, dev, csv, (model, "bf16", "forward", b, s, 0), f"{model} b{b} s{s}")
            except Exception as e:
                log(f"{model} b{b} s{s}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
            if dev == "cuda":
                torch.cuda.empty_cache()


def hf_section(torch, timer: Timer, out: Path, clock: Clock, dev: str, dry: bool) -> None:
    """The same shapes through Hugging Face transformers itself (when installed), to check that the plain-PyTorch
    models above run what transformers runs: BertModel at batch 32 × 128 and LlamaForCausalLM (Llama-2-7B's
    config, no cache) prefill at batch 1 × 512, random weights, bf16, SDPA, graph and eager; rows
    ``hf_bert_base`` / ``hf_llama2_7b`` in ``hf_check.csv``."""
    try:
        import transformers
    except ImportError:
        log("hf: transformers is not installed")
        return
    cols = ["model", "dtype", "phase", "batch", "seq_len", "kv_len", "mode", "latency_us"]
    csv = Csv(out / "hf_check.csv", cols, torch if dev == "cuda" else None)
    dt = torch.float32 if dry else torch.bfloat16
    small = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4) if dry else {}
    cases = [("hf_bert_base", 2 if dry else 32, 16 if dry else 128,
              lambda: transformers.BertModel(transformers.BertConfig(attn_implementation="sdpa", **small))),
             ("hf_llama2_7b", 1, 16 if dry else 512,
              lambda: transformers.LlamaForCausalLM(transformers.LlamaConfig(
                  attn_implementation="sdpa", vocab_size=32000, rms_norm_eps=1e-5, max_position_embeddings=4096,
                  **(dict(small, num_key_value_heads=4) if dry else dict(
                      hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32)))))]
    for name, b, s, make in cases:
        if clock.left() < 40:
            log(f"hf: out of time before {name}")
            return
        try:
            with torch.device(dev):
                model = make().to(dt).eval()
            ids = torch.randint(0, 1000, (b, s), device=dev)
            kw = {"use_cache": False} if "llama" in name else {}

            def fn(model=model, ids=ids, kw=kw):
                model(input_ids=ids, **kw)
            phase = "prefill" if "llama" in name else "forward"
            with torch.no_grad():  # the graph may fail: a model that syncs with the host cannot be captured
                time_modes(torch, timer, fn, dev, csv, (name, "bf16", phase, b, s, 0),
                           f"{name} b{b} s{s} (transformers {transformers.__version__})", eager_first=True)
        except Exception as e:
            log(f"{name}: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}")
        model = None
        if dev == "cuda":
            torch.cuda.empty_cache()


def time_modes(torch, timer: Timer, fn, dev: str, csv: Csv, row: tuple, label: str, eager_first: bool = False):
    """Time ``fn`` as a CUDA graph replayed back to back and eagerly (:func:`eager_s`), each into ``csv`` as
    ``row`` + (mode, µs), logged under ``label``; ``eager_first`` for a model that may not capture (the graph
    raises after the eager row is written)."""
    modes = [("graph", timer.per_replay_s), ("eager", lambda f: eager_s(torch, f, dev))]
    for mode, timed in reversed(modes) if eager_first else modes:
        t = timed(fn)
        csv.row(*row, mode, f"{t * 1e6:.2f}")
        log(f"{label}: {mode} {t * 1e3:.3f} ms")


def eager_s(torch, fn, dev: str, min_s: float = 0.3, max_calls: int = 50) -> float:
    """Median wall time of ``fn(); synchronize()`` over calls (3 warm-ups; at least 5 calls, up to ``min_s``)."""
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    for _ in range(3):
        fn()
    sync()
    ts, t_end = [], time.perf_counter() + min_s
    while len(ts) < 5 or (time.perf_counter() < t_end and len(ts) < max_calls):
        t = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def backends(torch, dry: bool):
    from torch.nn.attention import SDPBackend
    return [SDPBackend.MATH] if dry else [SDPBackend.FLASH_ATTENTION]


def infer_section(torch, timer: Timer, out: Path, clock: Clock, dev: str, dry: bool) -> None:
    cols = ["model", "dtype", "phase", "batch", "seq_len", "kv_len", "mode", "latency_us"]
    csv = Csv(out / "llama_inference.csv", cols, torch if dev == "cuda" else None)
    cfg = DRY if dry else LLAMA2_7B
    dt = torch.float32 if dry else torch.bfloat16
    m = Llama(torch, cfg, dt, dev)
    be = backends(torch, dry)
    nkv, d = cfg["kv_heads"], cfg["hidden"] // cfg["heads"]
    prefill = [(1, 16), (2, 8)] if dry else PREFILL
    decode = [(1, 8), (2, 16)] if dry else DECODE
    runs = [("prefill", b, s, 0) for b, s in prefill] + [("decode", b, 1, kv) for b, kv in decode]
    with torch.no_grad():
        for phase, b, s, kv in runs:
            if clock.left() < 60:
                log(f"inference: out of time before {phase} b{b} s{s} kv{kv}")
                return
            try:
                L = kv + s
                caches = [(torch.zeros(b, nkv, L, d, device=dev, dtype=dt),
                           torch.zeros(b, nkv, L, d, device=dev, dtype=dt)) for _ in range(cfg["layers"])]
                ids = torch.randint(0, cfg["vocab"], (b, s), device=dev)
                cos, sin = m.rope_tables(kv, s)

                def fn(ids=ids, cos=cos, sin=sin, caches=caches, kv=kv, causal=phase == "prefill"):
                    m.forward(ids, cos, sin, caches, pos=kv, causal=causal, be=be)
                time_modes(torch, timer, fn, dev, csv, ("llama2_7b", "bf16", phase, b, s, kv),
                           f"{phase} b{b} s{s} kv{kv}")
            except Exception as e:  # one shape's failure (memory, a backend) does not stop the others
                log(f"{phase} b{b} s{s} kv{kv}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
            caches = None
            if dev == "cuda":
                torch.cuda.empty_cache()


def train_section(torch, out: Path, clock: Clock, dev: str, dry: bool) -> None:
    from torch.nn.attention import SDPBackend

    F = torch.nn.functional
    cols = ["model", "dtype", "phase", "batch", "seq_len", "params", "mode", "latency_us"]
    csv = Csv(out / "llama_training.csv", cols, torch if dev == "cuda" else None)
    cfg = DRY if dry else TINYLLAMA
    dt = torch.float32 if dry else torch.bfloat16
    m = Llama(torch, cfg, dt, dev, grad=True, seed=1)
    # FlashAttention-2 where it takes the GQA backward, else the memory-efficient kernel (SDPA picks in order)
    be = backends(torch, dry) if dry else [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]
    n_params = sum(p.numel() for p in m.params())
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

    def timed(fn, n: int) -> float:
        fn()
        fn()
        sync()
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            sync()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    for b, s in ([(1, 16), (2, 16)] if dry else TRAIN):
        if clock.left() < 45:
            log(f"training: out of time before b{b} s{s}")
            break
        try:
            ids = torch.randint(0, cfg["vocab"], (b, s), device=dev)
            labels = torch.randint(0, cfg["vocab"], (b * s,), device=dev)
            cos, sin = m.rope_tables(0, s)

            def step(ids=ids, labels=labels, cos=cos, sin=sin):
                logits = m.forward(ids, cos, sin, be=be)
                F.cross_entropy(logits.view(-1, cfg["vocab"]), labels).backward()
                for p in m.params():
                    p.grad = None
            t = timed(step, 5)
            csv.row("tinyllama_1_1b", "bf16", "train_fwd_bwd", b, s, n_params, "eager", f"{t * 1e6:.1f}")
            log(f"train b{b} s{s}: fwd+bwd {t * 1e3:.2f} ms")
        except Exception as e:
            log(f"train b{b} s{s}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
        if dev == "cuda":
            torch.cuda.empty_cache()
    try:  # the optimizer step over fp32 master weights with fp32 gradients
        master = [p.detach().float().requires_grad_(True) for p in m.params()]
        for p in master:
            p.grad = torch.randn_like(p) * 1e-3
        opt = torch.optim.AdamW(master, lr=1e-4, **({} if dry else {"fused": True}))
        t = timed(opt.step, 5)
        csv.row("tinyllama_1_1b", "fp32", "optimizer", 0, 0, n_params, "eager", f"{t * 1e6:.1f}")
        log(f"optimizer over {n_params} params: {t * 1e3:.2f} ms")
    except Exception as e:
        log(f"optimizer: {type(e).__name__}: {str(e).splitlines()[0][:160]}")


def power_section(torch, out: Path, clock: Clock, dev: str, dry: bool) -> None:
    F = torch.nn.functional
    cols = ["what", "dtype", "m", "n", "k", "seconds", "calls", "latency_us", "tflops", "power_w_mean",
            "sm_clock_mhz_mean", "samples"]
    csv = Csv(out / "power.csv", cols, torch if dev == "cuda" else None)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    dur = 0.2 if dry else 4.0
    g = torch.Generator(device=dev).manual_seed(5)

    def sample():
        st = gpu_state(torch) if dev == "cuda" else ("", "")
        return (float(st[0]), float(st[1])) if st[0] and st[1] else None

    def run(what, dtype, mnk, fn, flops_per_call):
        calls, samples, t0 = 0, [], time.perf_counter()
        next_sample = t0
        while time.perf_counter() - t0 < dur:
            fn()
            calls += 1
            if calls % 4 == 0:
                sync()
            now = time.perf_counter()
            if now >= next_sample and now - t0 > dur / 3:
                smp = sample()
                if smp:
                    samples.append(smp)
                next_sample = now + 0.1
        sync()
        secs = time.perf_counter() - t0
        per = secs / calls
        clk = statistics.mean(s[0] for s in samples) if samples else ""
        pw = statistics.mean(s[1] for s in samples) if samples else ""
        tf = flops_per_call / per / 1e12 if flops_per_call else ""
        csv.row(what, dtype, *mnk, f"{secs:.2f}", calls, f"{per * 1e6:.2f}", tf if tf == "" else f"{tf:.1f}",
                pw if pw == "" else f"{pw:.1f}", clk if clk == "" else f"{clk:.0f}", len(samples))
        log(f"power {what} {dtype}: {per * 1e6:.1f} us/call, {tf or 0:.1f} TFLOP/s, {pw} W, {clk} MHz")

    time.sleep(0.1 if dry else 3.0)
    idle = [sample() for _ in range(5)]
    idle = [s for s in idle if s]
    csv.row("idle", "", 0, 0, 0, "", 0, "", "", f"{statistics.mean(s[1] for s in idle):.1f}" if idle else "",
            f"{statistics.mean(s[0] for s in idle):.0f}" if idle else "", len(idle))
    n = 64 if dry else POWER_GEMM
    dtypes = ["fp32"] if dry else ["bf16", "fp16", "fp8", "tf32"]
    for dtype in dtypes:
        if clock.left() < 15:
            return
        try:
            if dtype == "fp8":
                if not _fp8_works(torch, dev):
                    continue
                a = torch.randn(n, n, device=dev, generator=g).to(torch.float8_e4m3fn)
                bt = torch.randn(n, n, device=dev, generator=g).to(torch.float8_e4m3fn)
                one = torch.ones((), device=dev)

                def fn(a=a, bt=bt, one=one):
                    torch._scaled_mm(a, bt.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
            else:
                td = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype, torch.float32)
                if dev == "cuda":
                    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
                x = torch.randn(n, n, device=dev, dtype=td, generator=g)
                w = torch.randn(n, n, device=dev, dtype=td, generator=g)

                def fn(x=x, w=w):
                    F.linear(x, w)
            run("gemm", dtype, (n, n, n), fn, 2 * n ** 3)
        except Exception as e:
            log(f"power gemm {dtype}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
        a = bt = x = w = None
        time.sleep(0.1 if dry else 2.0)
    try:  # a device copy of 2 GiB fp16 (bytes read + written counted in the column tflops' place: TB/s)
        e = (1 << 10) if dry else (1 << 30)
        src = torch.randn(e, device=dev, dtype=torch.float16 if dev == "cuda" else torch.float32, generator=g)
        dst = torch.empty_like(src)
        run("copy", "fp16", (e, 0, 0), lambda: dst.copy_(src), 0)
    except Exception as e:
        log(f"power copy: {type(e).__name__}: {e}")


def main(argv=None) -> int:
    cli = parse_cli(argv, __doc__, 300.0, "infer,train,encoders,power")
    if cli is None:
        return 2
    args, torch, dev = cli
    clock = Clock(args.budget_s)
    timer = Timer(torch, args.dry)
    sections = {
        "infer": lambda: infer_section(torch, timer, args.out, clock, dev, args.dry),
        "train": lambda: train_section(torch, args.out, clock, dev, args.dry),
        "hf": lambda: hf_section(torch, timer, args.out, clock, dev, args.dry),
        "encoders": lambda: encoders_section(torch, timer, args.out, clock, dev, args.dry),
        "power": lambda: power_section(torch, args.out, clock, dev, args.dry),
    }
    run_sections(torch, args.out, dev, clock, args.sections.split(","), sections)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
