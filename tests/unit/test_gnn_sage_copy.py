"""GraphSAGE's host-gathered node features cross the host link as one packed tensor (probe p88 #4). Every expected
number is a hand calculation written out here from ogbn-products' published size (https://ogb.stanford.edu/docs/
nodeprop/: 100 features), PyG's NeighborSampler as examples/ogbn_products_sage.py uses it (each hop samples every
node gathered so far: torch_geometric/loader/neighbor_sampler.py, sample), a host that indexes x[n_id] and a device
that copies the packed tensor in, and the tpu-v4 preset's host link, read from the preset, not assumed."""

from __future__ import annotations

import math

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.config import load_arch

# one mini-batch of the graphsage_products preset: 1024 seeds, sizes [15, 10, 5], no overlap assumed; NeighborSampler
# grows the nodes within h hops by (1 + f_h) each hop: 1024·16·11·6 (probe p136 #1: 1024·(1 + 15 + 150 + 750) =
# 937,984 counted NeighborLoader's frontier-only growth)
SAMPLED = 1024 * (1 + 15) * (1 + 10) * (1 + 5)
FEATURES = 100  # ogbn-products


def _op(report: dict, name: str) -> dict:
    return next(o for o in report["ops"] if o["name"] == name)


@pytest.mark.parametrize(("feature_dtype", "width"), [("fp32", 4), ("int8", 1)])
def test_the_device_copies_the_packed_features_whole_over_the_host_link(feature_dtype, width):
    # probe p88 #4: the device was charged a gather of the host rows, each the 64-B read completions it covers
    # (400 + 64 − gcd(400, 64) = 448 B in fp32; 100 + 64 − 4 = 160 B in int8). The host gathers them into one
    # packed tensor and the device copies it: n × features × width bytes exactly
    assert SAMPLED == 1_081_344
    arch = load_arch("tpu-v4")
    host = arch.memory("host")
    r = accelsim.simulate({"model": "graphsage_products", "features_on": "host", "feature_dtype": feature_dtype}, arch).to_dict()
    packed = SAMPLED * FEATURES * width  # 432,537,600 B in fp32, 108,134,400 B in int8
    assert packed == {"fp32": 432_537_600, "int8": 108_134_400}[feature_dtype]
    # the link also carries the three adjs (probe p239 #2: PyG's adj.to(device) whatever holds x): 24 B an edge
    # (int64 edge_index 2 × 8 and e_id 8) × (15,360 + 163,840 + 901,120 = 1,080,320) = 25,927,680 B
    adjs = 24 * 1_080_320
    assert r["bytes"]["host"] == packed + adjs and r["placement"]["x[n_id]"] == "host"
    copy = _op(r, "sample.copy_features")
    # the copy reads the packed tensor from host memory and writes it to HBM: no lane work, no id read
    assert copy["bytes"]["host"] == copy["bytes"]["hbm"] == packed and copy["compute_cycles"] == 0
    # it is bound by the link: 432,537,600 B at 15.75 GB/s = 27.46 ms (int8: 108,134,400 B, 6.866 ms), within the
    # op's span and the batch's run time
    link_s = packed / host.bandwidth
    assert link_s == pytest.approx({"fp32": 27.4627e-3, "int8": 6.8657e-3}[feature_dtype], rel=1e-4)
    assert (copy["end_cycle"] - copy["start_cycle"]) / arch.clock >= link_s and r["seconds"] > link_s
    # the note names the host data, the adjs and the packed x[n_id], and their bytes
    assert any(n.startswith(f"{packed + adjs} B (") and "host data (adjs, x[n_id]" in n and "host link" in n
               for n in r["notes"])
    # the model is untouched: 2·targets·in·out MACs of lin_l and lin_r per layer (targets within 2 hops, 1 hop and
    # the seeds: 1024·16·11 = 180,224 / 1024·16 = 16,384 / 1,024)
    assert r["macs"] == 2 * (180_224 * 100 * 256 + 16_384 * 256 * 256 + 1_024 * 256 * 47) == 11_399_593_984


@pytest.mark.parametrize(("feature_dtype", "model_dtype", "width"),
                         [("bf16", "bf16", 2), ("fp32", "fp32", 4), ("int8", "bf16", 1)])
def test_sampled_node_ids_are_int64_and_read_by_no_device_op(feature_dtype, model_dtype, width):
    # probe p88 #5: n_id (PyG's torch.long ids) is 8 B an id whatever the feature dtype: 1,081,344 × 8 = 8,650,752 B.
    # The host gathers the features with them, so no device op reads them; the copy's main-memory bytes are the
    # packed (n, 100) rows it writes alone
    g = build_workload("graphsage_products", {"features_on": "host", "feature_dtype": feature_dtype, "dtype": model_dtype})
    assert math.prod(g.inputs["n_id"]) * width == SAMPLED * 8 == 8_650_752
    assert not any("n_id" in op.inputs for op in g.ops)
    r = accelsim.simulate({"model": "graphsage_products", "features_on": "host", "feature_dtype": feature_dtype, "dtype": model_dtype},
                          "tpu-v4").to_dict()
    assert _op(r, "sample.copy_features")["bytes"]["hbm"] == SAMPLED * FEATURES * width
    # the edge index each layer aggregates by: its own hop's edges' two int64 rows (hop 3 samples 5 for each of the
    # 180,224 nodes within 2 hops, 901,120; hop 2 10 for each of 16,384, 163,840; hop 1 15 for each seed, 15,360), in
    # elements of the model's dtype (2 B bf16, 4 B fp32)
    model_width = {"bf16": 2, "fp32": 4}[model_dtype]
    for i, edges in enumerate((180_224 * 5, 16_384 * 10, 1_024 * 15)):
        assert math.prod(g.inputs[f"edge_index.{i}.src"]) * model_width == edges * 8
        assert g[f"convs.{i}.propagate"].inputs[1:] == (f"edge_index.{i}.src", f"edge_index.{i}.dst")


def test_features_on_device_gathers_from_the_resident_table_and_copies_only_the_indices():
    # examples/ogbn_products_sage.py (PyG commit 5858150b): x = data.x.to(device) once; per batch
    # adjs = [adj.to(device) ...] and model(x[n_id], adjs), n_id returned on the CPU by NeighborSampler, so x[n_id]
    # copies it to the device first. Link bytes, int64 (8 B) each: n_id 8 × nodes, and per layer edge_index
    # 2 × E_l × 8 plus e_id E_l × 8 = 24 × E_l; E_l = 901,120 + 163,840 + 15,360 = 1,080,320
    edges = 180_224 * 5 + 16_384 * 10 + 1_024 * 15
    assert edges == 1_080_320
    link = 8 * SAMPLED + 24 * edges  # 8,650,752 + 25,927,680
    assert link == 34_578_432
    arch = load_arch("h100")
    r = accelsim.simulate({"model": "graphsage_products", "features_on": "device"}, arch).to_dict()
    assert r["bytes"]["host"] == link
    copy = _op(r, "sample.copy_indices")
    assert copy["bytes"]["host"] == copy["bytes"]["hbm"] == link
    # the gather (an embedding-style row gather) reads n_id (8 B a node) and SAMPLED rows of 100 fp32 = 400 B, each
    # at h100's HBM access granule as cost.gather.row_bytes prices a row: 400 + g − gcd(400, g), and writes the
    # packed (SAMPLED, 100) fp32 rows
    g = arch.memory("hbm").access_bytes
    row = 400 + g - math.gcd(400, g)
    gather = _op(r, "sample.gather_features")
    assert gather["bytes"]["hbm"] == 8 * SAMPLED + SAMPLED * row + SAMPLED * 400
    # the table is resident device data, not a parameter: params stay 206,895 (2·in·out + out per layer)
    assert r["params"] == 2 * (100 * 256 + 256 * 256 + 256 * 47) + 256 + 256 + 47 == 206_895
    assert r["placement"]["x"] == "hbm"


def test_features_on_host_still_copies_the_adjs_as_the_example_does():
    # probe p239 #2: examples/ogbn_products_sage.py (PyG 5858150b) runs adjs = [adj.to(device) for adj in adjs]
    # every batch wherever x lives; gathering x[n_id] on the host spares only n_id's copy (8 B a node), not the
    # adjs' 24 B an edge (int64 edge_index 2 × 8 and e_id 8) that features_on: device charges. h100: 1,081,344 ×
    # 400 B packed rows + 24 × 1,080,320 = 432,537,600 + 25,927,680 = 458,465,280 B over the link (it was 432,537,600)
    arch = load_arch("h100")
    host = accelsim.simulate({"model": "graphsage_products", "features_on": "host"}, arch).to_dict()
    device = accelsim.simulate({"model": "graphsage_products", "features_on": "device"}, arch).to_dict()
    adjs = _op(host, "sample.copy_adjs")
    assert adjs["bytes"]["host"] == adjs["bytes"]["hbm"] == 24 * 1_080_320 == 25_927_680
    assert host["bytes"]["host"] == SAMPLED * 400 + 25_927_680 == 458_465_280
    # device mode's copy is the same adjs and n_id: the two modes differ by n_id's 8 B a node alone
    assert _op(device, "sample.copy_indices")["bytes"]["host"] - 8 * SAMPLED == adjs["bytes"]["host"]
    # n_id is still read by no device op in host mode (the host gathered with it)
    g = build_workload("graphsage_products", {"features_on": "host"})
    assert not any("n_id" in op.inputs for op in g.ops) and g["sample.copy_adjs"].inputs == ()
    # the NeighborLoader copies its batch's one edge_index and e_id: 24 × 936,960 = 22,487,040 B
    loader = build_workload("graphsage_products", {"features_on": "host", "sampler": "neighbor_loader"})
    assert loader["sample.copy_adjs"].weights[0].nbytes(loader["sample.copy_adjs"].dtype) == 24 * 936_960
    # a batch without edges copies no adjs
    bare = build_workload("graphsage_products", {"features_on": "host", "nodes": 10_000, "edges": 0})
    assert "sample.copy_adjs" not in {op.name for op in bare.ops}


def test_features_on_rejects_an_unknown_place(tmp_path):
    spec = tmp_path / "w.yaml"
    spec.write_text("model: graphsage_products\nfeatures_on: gpu\n")
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "accelsim", "run", "-w", str(spec), "-a", "h100", "--quiet",
                          "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert out.returncode == 2 and "features_on" in out.stderr and "w.yaml:2" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_the_preset_and_the_builder_keep_x_on_the_device_as_the_cited_example():
    # examples/ogbn_products_sage.py (PyG at 5858150b): `x = data.x.to(device)` once, then `model(x[n_id], adjs)`
    # with only the adjs moved each batch: the default gathers on the device, and the host link carries
    # 8 B x 1,081,344 sampled ids + 24 B x 1,080,320 sampled edges = 34,578,432 B (not the 432,537,600 B of rows)
    import accelsim
    from accelsim.config import load_workload

    assert load_workload("graphsage_products").params["features_on"] == "device"
    r = accelsim.simulate({"model": "graphsage_products"}, "h100").to_dict()
    assert r["bytes"]["host"] == 8 * 1_081_344 + 24 * 1_080_320 == 34_578_432
