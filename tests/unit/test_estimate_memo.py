"""The split estimates of :func:`accelsim.mapping.choice.assign` and ``plan_cycles`` are kept by what
:func:`~accelsim.mapping.traffic.split_estimate` reads of an op (probe p128 #2: resnet152 training on tpu-v4
estimates its 36 identical stage-3 blocks' ops once): an op equal but for its names shares its estimate, and a plan
that reads differently (its A also read as its B) does not take another's."""

from __future__ import annotations

import collections
import dataclasses

from accelsim.config import build_graph, load_arch, load_workload
from accelsim.mapping import choice, traffic
from accelsim.mapping.aliases import aliases
from accelsim.mapping.fusion import fuse, pipeline
from accelsim.mapping.pricing import price
from accelsim.options import Options


def _plans(workload: dict, arch) -> dict:
    graph = build_graph(load_workload(workload), arch.dtype)
    return {p.op.name: p for p in pipeline(price(fuse(aliases(graph, Options()), graph, arch), arch), arch)}


def test_a_tensor_read_as_both_operands_is_not_estimated_as_two(monkeypatch):
    # dlrm's interaction X·Xᵀ reads its stack once a pass for both operands (traffic.same_operands); the same op
    # reading X and another tensor Y of X's shape reads Y besides: more transfers. Each keeps its own estimate
    arch = load_arch("tpu-v4")
    xx = _plans({"model": "dlrm_mlperf", "batch": 256}, arch)["interact.bmm"]
    xy = xx._replace(operands=(xx.operands[0], ("other",)), inputs=(*xx.inputs, "other"))
    assert traffic.same_operands(xx) and not traffic.same_operands(xy)
    options = Options()
    direct = [traffic.split_estimate(p, arch, options, 4, 1) for p in (xx, xy)]
    assert direct[0][2] < direct[1][2]  # X read once less
    monkeypatch.setattr(choice, "_ESTIMATES", [(None, {})])
    kept = choice._estimates(arch)
    assert [choice._estimate(p, arch, options, 4, 1, False, (0, 0), False, kept) for p in (xx, xy)] == direct


def test_an_op_equal_but_for_its_names_is_estimated_once(monkeypatch):
    arch = load_arch("tpu-v4")
    p = _plans({"model": "gemm", "m": 1024, "n": 512, "k": 256}, arch)
    p = next(q for q in p.values() if q.works)
    twin = p._replace(op=dataclasses.replace(p.op, name="twin"), inputs=("x2",), operands=(("x2",),))
    calls: collections.Counter = collections.Counter()
    estimate = choice.split_estimate

    def counting(q, *args, **kwargs):
        calls[q.op.name] += 1
        return estimate(q, *args, **kwargs)

    monkeypatch.setattr(choice, "split_estimate", counting)
    monkeypatch.setattr(choice, "_ESTIMATES", [(None, {})])
    kept = choice._estimates(arch)
    got = [choice._estimate(q, arch, Options(), 2, 1, True, (0, 0), False, kept) for q in (p, twin)]
    assert got[0] == got[1] and calls == {p.op.name: 1}
