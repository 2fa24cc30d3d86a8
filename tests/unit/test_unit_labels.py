"""An op row's ``unit`` names the units it ran on (probe p23 finding 7: "core0.systolic0..core0.systolic3 (3)"
for arrays 0, 1 and 3 read as four arrays)."""

from accelsim import config, mapping
from accelsim.builders.tlayers import TransformerBuilder
from accelsim.energy.model import unit_group
from accelsim.hardware import first_unit, units_label
from accelsim.tasks import TaskKind


def test_a_span_only_for_consecutive_units_and_the_first_read_back():
    assert units_label(["core0.s0", "core0.s1", "core0.s2"], True) == "core0.s0..core0.s2 (3)"
    assert units_label(["core0.s0", "core0.s1", "core0.s3"], False) == "core0.s0,core0.s1,core0.s3 (3)"
    for label in ("core0.s0..core0.s2 (3)", "core0.s0,core0.s1,core0.s3 (3)", "core0.s0"):
        assert first_unit(label) == "core0.s0"
    assert first_unit("core*.vector (108)") == "core*.vector"
    # the energy model's unit group of either form: the systolic arrays
    assert unit_group("core0.systolic0,core0.systolic1,core0.systolic3 (3)") == "systolic"


def test_each_ops_label_names_exactly_the_units_its_compute_tasks_ran_on():
    b = TransformerBuilder("blk", {"x": (1, 128, 768)}, dtype="bf16")
    a = b.multihead_attention("x", heads=12, head_dim=64)
    b.mlp(b.layernorm(b.add("x", a)), 3072)
    tg = mapping.lower(b.build(), config.load_arch("tpu-v4"), config.load_options({}))
    used: dict[str, set[str]] = {}
    for t in tg.tasks:
        if t.kind == TaskKind.COMPUTE:
            used.setdefault(tg.ops[t.op].name, set()).add(tg.units[t.unit].name)
    checked = 0
    for o in tg.ops:
        names = sorted(used.get(o.name, ()))
        if len(names) < 2 or "*" in o.unit:
            continue
        shown, count = o.unit.rsplit(" (", 1)
        assert int(count[:-1]) == len(names)
        if ".." in shown:  # a span: every unit of its kind between its ends, each used
            lo, hi = shown.split("..")
            group = next(u.group for u in tg.units if u.name == lo)
            order = [u.name for u in tg.units if u.group == group]
            assert order[order.index(lo):order.index(hi) + 1] == sorted(names, key=order.index)
        else:
            assert sorted(shown.split(",")) == names
        checked += 1
    assert checked > 0
