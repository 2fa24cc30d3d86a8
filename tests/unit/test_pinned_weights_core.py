"""A recurrent step's weights stay in the SRAM of the core that loaded them (``choice._pin_recurrent_weights``;
probe p71 finding 3, related): a later step on another core loads them again.

The plan that splits no op over cores (``choice.assign_and_reside``) may run a chain's first step on a core of its
own: a one-way LSTM(128, 256), 2 layers, at batch 4 on tpu-v4 ran ``r.l0.t0.hh`` on core 1 beside ``x_proj`` on
core 0 and the other steps on core 0, whose weights were then never loaded (``r.l0.t1.hh`` moved none of them).
Each step's parameters are W_hh, (4 · 256) × 256 bf16 = 524,288 B, and its bias, 4 · 256 × 2 = 2,048 B:
526,336 B."""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.config import load_arch
from accelsim.mapping import choice
from accelsim.mapping.aliases import aliases
from accelsim.mapping.fusion import fuse, pipeline
from accelsim.mapping.pricing import price
from accelsim.options import Options

W_HH = 4 * 256 * 256 * 2 + 4 * 256 * 2


def _steps(cores: dict[str, int | None]):
    """The layer's plans with ``cores`` (step → core; the others on core 0), weights pinned."""
    arch = load_arch("tpu-v4")
    graph = build_workload("layers", {"input": [4, 4, 128], "layers": [
        {"type": "lstm", "name": "r", "input_size": 128, "hidden_size": 256, "num_layers": 1}]})
    opts = Options()
    plans = pipeline(price(fuse(aliases(graph, opts), graph, arch), arch), arch)
    plans = tuple(p._replace(core=cores.get(p.op.name, 0)) if p.works else p for p in plans)
    pinned = choice._pin_recurrent_weights(plans, arch)
    return {p.op.name: p for p in pinned if p.op.name.endswith(".hh")}


def _loaded(p) -> int:
    return sum(w.nbytes(p.op.dtype) for w in p.weights)


def test_steps_on_one_core_load_their_weights_once():
    steps = _steps({})
    assert [_loaded(steps[f"r.l0.t{i}.hh"]) for i in range(4)] == [W_HH, 0, 0, 0]


def test_a_step_on_another_core_than_the_loader_loads_them_again():
    # t0 on core 1 loads (and holds) them there; t1 on core 0 loads them again and holds them from then on
    steps = _steps({"r.l0.t0.hh": 1})
    assert [_loaded(steps[f"r.l0.t{i}.hh"]) for i in range(4)] == [W_HH, W_HH, 0, 0]
    # a step spanning the cores (core None) holds a share on each, not the whole on core 0: t2 loads them again
    steps = _steps({"r.l0.t1.hh": None})
    assert [_loaded(steps[f"r.l0.t{i}.hh"]) for i in range(4)] == [W_HH, W_HH, W_HH, 0]
