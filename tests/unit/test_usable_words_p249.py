"""Probe p249 #3: the console's training footprint ("4.9 % of its capacity") and `accelsim compare`'s "hbm used of
capacity" row printed used / usable (the fraction since merge fitcap) on an arch whose hbm has a usable_fraction
(l40s, h200) under words naming the capacity; they now say "of its usable bytes" / "used of usable" where the row has
``usable`` and keep the capacity words where it has none (every other preset's output unchanged)."""

from __future__ import annotations

from rich.console import Console

from accelsim.report.compare import compare_table
from accelsim.report.console import memory_rows, used_text

GIB = 2**30
USED = 2_359_451_136  # gpt2 training at seq 128 (the probe's): 248,879,616 weights + 497,759,232 gradients + ...
L40S_CAP, L40S_USABLE = 48 * GIB, 47_803_531_264  # 51,539,607,552 B; the probe's usable (44.52GiB)
A100_CAP = 80 * GIB  # 85,899,345,920 B, no usable_fraction


def _step(name: str, capacity: int, usable: int | None) -> dict:
    """A training step's report.json as placement writes its ``memory`` (fraction = used / usable, else capacity)."""
    hbm = {"capacity": capacity, "weights": 248_879_616, "gradients": 497_759_232,
           "optimizer_states": 1_493_277_696, "activations": USED - 248_879_616 - 497_759_232 - 1_493_277_696,
           "used": USED, "fraction": USED / (usable or capacity)}
    if usable is not None:
        hbm["usable"] = usable
    return {"name": name, "workload": {"model": "gpt2"}, "arch": {"name": name, "chips": 1}, "total_cycles": 1,
            "seconds": 1e-3, "memory": {"hbm": hbm}, "data_parallel": {"replicas": 1}}


def test_used_text_names_the_denominator():
    # 2,359,451,136 / 47,803,531,264 = 0.049357 -> "4.9 %": of the usable bytes (of the 48GiB it would be 4.58 %)
    assert used_text(USED, "hbm", USED / L40S_USABLE, L40S_USABLE) == "2.197GiB of hbm used (4.9 % of its usable bytes)"
    # no usable: the capacity, worded as before; 2,359,451,136 / 85,899,345,920 = 0.027468 -> "2.7 %"
    assert used_text(USED, "hbm", USED / A100_CAP) == "2.197GiB of hbm used (2.7 % of its capacity)"


def test_console_memory_row_says_usable_only_where_the_row_has_it():
    l40s = dict(memory_rows(_step("l40s", L40S_CAP, L40S_USABLE)))["memory hbm"]
    a100 = dict(memory_rows(_step("a100", A100_CAP, None)))["memory hbm"]
    assert l40s.startswith("2.197GiB of hbm used (4.9 % of its usable bytes)")
    assert a100.startswith("2.197GiB of hbm used (2.7 % of its capacity)")


def _table_text(reports: list[tuple[str, dict]]) -> str:
    console = Console(record=True, width=200)
    console.print(compare_table(reports))
    return console.export_text()


def test_compare_fraction_row_says_used_of_usable_where_a_report_has_usable():
    mixed = _table_text([("l40s", _step("l40s", L40S_CAP, L40S_USABLE)), ("a100", _step("a100", A100_CAP, None))])
    row = next(line for line in mixed.splitlines() if "hbm used of" in line)
    # a row without usable has usable = capacity, so "used of usable" is true of both columns
    assert "hbm used of usable" in row and "4.9 %" in row and "2.7 %" in row
    assert "used of capacity" not in mixed
    plain = _table_text([("a", _step("a100", A100_CAP, None)), ("b", _step("a100", A100_CAP, None))])
    assert "hbm used of capacity" in plain and "used of usable" not in plain


def test_the_html_pipeline_stages_name_the_fractions_base():
    """report.html's Stages table: each stage's ``hbm_fraction`` is used / usable where the main memory has a
    usable_fraction (placement), so its column says "used of usable"; without one, "used of capacity"."""
    import accelsim
    from accelsim.report.html import render_html

    def stages_head(fraction: float) -> str:
        report = accelsim.simulate(
            {"model": "gpt", "mode": "training", "pipeline_parallel": 2, "micro_batches": 2, "layers": 2,
             "hidden": 256, "heads": 4, "seq_len": 128},
            {"base": "dgx-h100", "chips": 2, "hbm": {"usable_fraction": fraction}}, plots=False).to_dict()
        html = render_html(report)
        return html[html.index("<h3>Stages</h3>"):html.index("</thead>", html.index("<h3>Stages</h3>"))]

    assert "used of usable" in stages_head(0.99) and "used of capacity" not in stages_head(0.99)
    assert "used of capacity" in stages_head(1.0)
