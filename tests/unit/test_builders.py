"""Workload builders: shapes against the torch.nn formulas worked by hand, params and MACs against published figures.

Every expected number is a published figure (cited) or a hand calculation in a comment.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pydantic
import pytest
import yaml

from accelsim.builders import BUILDERS, GraphBuilder, build_workload, get_builder
from accelsim.builders.layers import pool_out_size
from accelsim.errors import WorkloadError
from accelsim.ir import OpKind
from accelsim.units import DTYPE_BYTES

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ROOT / "workloads"


def _graph(name: str, **params: object):
    return build_workload(name, params)


# ---- published parameter counts ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "params"), [
    # torchvision.models docs ("num_params" of each IMAGENET1K_V1 weight enum)
    ("resnet18", 11_689_512),
    ("resnet50", 25_557_032),
    ("resnet152", 60_192_808),
    ("googlenet", 6_624_904),
    ("mobilenet_v2", 3_504_872),
    ("mobilenet_v3_large", 5_483_032),
    # MobileNet-V1 1.0/224, Howard et al. 2017 (4.2 M); 4,231,976 with BN affine params and the FC bias, as Keras'
    # trainable count: conv1 3·32·9 + 2·32 = 928, 13 dw/pw blocks 3,206,048, fc 1024·1000 + 1000 = 1,025,000
    ("mobilenet_v1", 4_231_976),
])
def test_params_equal_published(name, params):
    assert _graph(name).params == params


def test_lenet5_params_by_hand():
    conv1 = 6 * 1 * 5 * 5 + 6  # 156
    conv2 = 16 * 6 * 5 * 5 + 16  # 2,416
    fc1 = 16 * 5 * 5 * 120 + 120  # 48,120 (16×5×5 after two conv+pool stages from 32×32)
    fc2 = 120 * 84 + 84  # 10,164
    fc3 = 84 * 10 + 10  # 850
    assert conv1 + conv2 + fc1 + fc2 + fc3 == 61_706
    g = _graph("lenet5")
    assert g.params == 61_706
    assert g.ops[-1].out_shape == (1, 10)


def test_unet_params_by_hand():
    def conv(cin: int, cout: int, k: int = 3) -> int:
        return k * k * cin * cout + cout

    down = conv(1, 64) + conv(64, 64) + conv(64, 128) + conv(128, 128) + conv(128, 256) + conv(256, 256) \
        + conv(256, 512) + conv(512, 512) + conv(512, 1024) + conv(1024, 1024)
    up = sum(conv(2 * c, c, 2) + conv(2 * c, c) + conv(c, c) for c in (512, 256, 128, 64))  # 2×2 up-conv halves
    head = conv(64, 2, 1)
    assert _graph("unet").params == down + up + head


# ---- published MACs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "gmacs"), [
    # torchvision docs list "GFLOPS" per weight enum; they count multiply-accumulates (fvcore convention)
    ("resnet18", 1.81),
    ("resnet50", 4.09),
    ("resnet152", 11.51),
    ("googlenet", 1.50),
    ("mobilenet_v2", 0.30),
    ("mobilenet_v3_large", 0.217),
    ("mobilenet_v1", 0.569),  # Howard et al. 2017, Table 8: 569 million mult-adds
])
def test_macs_match_published(name, gmacs):
    assert _graph(name).macs == pytest.approx(gmacs * 1e9, rel=0.01)


def test_batch_scales_macs_linearly():
    one, four = _graph("resnet18"), _graph("resnet18", batch=4)
    assert four.macs == 4 * one.macs
    assert four.params == one.params


# ---- shape inference against torch's formulas ----------------------------------------------------------------
def test_conv_stride_padding():
    b = GraphBuilder("t", (1, 3, 224, 224))
    y = b.conv2d("input", 64, 7, stride=2, padding=3, bias=False)
    # floor((224 + 2·3 − 1·(7−1) − 1) / 2) + 1 = floor(223 / 2) + 1 = 112
    assert b.shape(y) == (1, 64, 112, 112)
    op = b.build()[y]
    assert op.kind is OpKind.CONV
    # m = N·Ho·Wo, n = Cout, k = kh·kw·Cin
    assert (op.gemm.m, op.gemm.n, op.gemm.k, op.gemm.count) == (112 * 112, 64, 7 * 7 * 3, 1)
    assert op.macs == 112 * 112 * 64 * 147
    assert op.flops == 2 * op.macs  # no bias
    assert op.attrs["kernel"] == (7, 7) and op.attrs["stride"] == (2, 2) and op.attrs["padding"] == (3, 3)


def test_conv_dilation_and_rectangular():
    b = GraphBuilder("t", (1, 4, 32, 32))
    y = b.conv2d("input", 8, 3, dilation=2)
    # floor((32 + 0 − 2·(3−1) − 1) / 1) + 1 = 27 + 1 = 28
    assert b.shape(y) == (1, 8, 28, 28)
    b = GraphBuilder("t", (2, 4, 10, 20))
    y = b.conv2d("input", 8, (3, 5), stride=(2, 1), padding=(1, 2))
    # H: floor((10 + 2 − 2 − 1) / 2) + 1 = 5; W: floor((20 + 4 − 4 − 1) / 1) + 1 = 20
    assert b.shape(y) == (2, 8, 5, 20)


def test_conv_padding_same_and_valid():
    b = GraphBuilder("t", (1, 4, 9, 9))
    same = b.conv2d("input", 4, 4, padding="same")
    # even kernel: d·(k−1) = 3 pixels of padding, 1 on top/left and 2 on bottom/right (torch), size kept
    assert b.shape(same) == (1, 4, 9, 9)
    assert b.build()[same.removesuffix(".bias_add")].attrs["pads"] == (1, 2, 1, 2)  # (the conv: layers._eager_bias)
    valid = b.conv2d("input", 4, 4, padding="valid")
    assert b.shape(valid) == (1, 4, 6, 6)  # 9 − 4 + 1
    with pytest.raises(WorkloadError, match="same.*stride"):
        b.conv2d("input", 4, 3, stride=2, padding="same", name="bad")


def test_grouped_conv_macs_by_hand():
    b = GraphBuilder("t", (2, 8, 8, 8))
    y = b.conv2d("input", 16, 3, padding=1, groups=4)
    op = b.build()[y.removesuffix(".bias_add")]  # the conv (y: its eager bias add, layers._eager_bias)
    # weight (Cout, Cin/g, 3, 3) = 16·2·9 = 288, bias 16
    assert op.params == 288 + 16
    # MACs = N·Ho·Wo·Cout·(Cin/g)·kh·kw = 2·8·8·16·2·9
    assert op.macs == 2 * 8 * 8 * 16 * 2 * 9 == 36_864
    assert (op.gemm.m, op.gemm.n, op.gemm.k, op.gemm.count) == (2 * 64, 4, 18, 4)
    assert op.flops == 2 * op.macs + 2 * 16 * 8 * 8  # + one bias add per output element


def test_depthwise_conv():
    b = GraphBuilder("t", (1, 32, 112, 112))
    y = b.conv2d("input", 32, 3, stride=2, padding=1, groups=32, bias=False)
    # floor((112 + 2 − 2 − 1) / 2) + 1 = 56; MACs = 56·56·32·9 (one 3×3 filter per channel)
    assert b.shape(y) == (1, 32, 56, 56)
    assert b.build()[y].macs == 56 * 56 * 32 * 9


def test_conv_transpose_shapes_and_macs():
    b = GraphBuilder("t", (1, 128, 28, 28))
    y = b.conv_transpose2d("input", 64, 2, stride=2).removesuffix(".bias_add")  # the conv (layers._eager_bias)
    # (28 − 1)·2 − 0 + 1·(2 − 1) + 0 + 1 = 56
    assert b.shape(y) == (1, 64, 56, 56)
    op = b.build()[y]
    assert op.kind is OpKind.CONV_TRANSPOSE
    # m = N·Hin·Win, n = Cout·kh·kw, k = Cin
    assert (op.gemm.m, op.gemm.n, op.gemm.k) == (28 * 28, 64 * 4, 128)
    assert op.params == 128 * 64 * 2 * 2 + 64  # weight (Cin, Cout, kh, kw) + bias
    b = GraphBuilder("t", (1, 8, 7, 7))
    y = b.conv_transpose2d("input", 8, 3, stride=2, padding=1, output_padding=1)
    # (7 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1 = 14
    assert b.shape(y) == (1, 8, 14, 14)


def test_pool_ceil_mode():
    b = GraphBuilder("t", (1, 64, 112, 112))
    floor = b.maxpool2d("input", 3, stride=2)
    ceil = b.maxpool2d("input", 3, stride=2, ceil_mode=True)
    # floor((112 − 2 − 1) / 2) + 1 = 55; ceil(109 / 2) + 1 = 56
    assert b.shape(floor)[2:] == (55, 55)
    assert b.shape(ceil)[2:] == (56, 56)
    # size 5, kernel 2, stride 2, padding 1: ceil(5 / 2) + 1 = 4, but window 4 starts at 6 ≥ 5 + 1 → 3
    assert pool_out_size(5, 2, 2, 1, ceil_mode=True) == 3
    op = b.build()[floor]
    assert op.flops == 64 * 55 * 55 * (9 - 1)  # k·k − 1 compares per output
    assert op.vector_elems == 64 * 55 * 55 * 9  # window reads


def test_elementwise_conventions():
    b = GraphBuilder("t", (2, 16, 8, 8))
    conv = b.conv2d("input", 16, 1, bias=False, name="c")
    bn = b.batchnorm2d(conv, name="bn")
    hs = b.hardswish(bn)
    s = b.adaptive_avgpool2d(hs, 1)
    scaled = b.mul(s, hs)  # N×C×1×1 × N×C×H×W
    flat = b.flatten(scaled)
    assert b.dropout(flat) == flat
    g = b.build()
    elems = 2 * 16 * 8 * 8
    assert g[bn].params == 2 * 16 and g[bn].attrs["follows"] == "c"
    assert g[bn].flops == 2 * elems and g[bn].vector_elems == elems
    assert g[hs].flops == 3 * elems and g[hs].kind is OpKind.ACTIVATION
    assert g[s].out_shape == (2, 16, 1, 1) and g[s].flops == elems
    assert g[scaled].out_shape == (2, 16, 8, 8) and g[scaled].flops == elems and g[scaled].attrs["fn"] == "mul"
    assert g[flat].out_shape == (2, 16 * 64) and g[flat].flops == 0 and g[flat].kind is OpKind.RESHAPE
    assert len(g) == 6  # dropout added nothing


def test_concat_shape():
    b = GraphBuilder("t", (1, 4, 8, 8))
    a, c = b.relu("input"), b.conv2d("input", 6, 1)
    cat = b.concat([a, c])
    assert b.shape(cat) == (1, 10, 8, 8)


# ---- errors name the layer and the value ---------------------------------------------------------------------
def test_groups_not_dividing_channels():
    b = GraphBuilder("t", (1, 6, 8, 8))
    with pytest.raises(WorkloadError, match=r"'conv_a'.*in_channels 6 is not divisible by groups 4"):
        b.conv2d("input", 8, 3, groups=4, name="conv_a")


def test_negative_output_size():
    b = GraphBuilder("t", (1, 3, 3, 3))
    with pytest.raises(WorkloadError, match=r"'big'.*output size -1×-1"):
        b.conv2d("input", 8, 5, name="big")  # floor((3 − 4 − 1) / 1) + 1 = −1


def test_bad_broadcast_and_concat():
    b = GraphBuilder("t", (1, 4, 8, 8))
    small = b.maxpool2d("input", 2)
    with pytest.raises(WorkloadError, match="'sum'.*cannot broadcast"):
        b.add("input", small, name="sum")
    with pytest.raises(WorkloadError, match="'cat'"):
        b.concat(["input", small], name="cat")


def test_duplicate_layer_name():
    b = GraphBuilder("t", (1, 4, 8, 8))
    b.relu("input", name="r")
    with pytest.raises(WorkloadError, match="'r' is used twice"):
        b.relu("input", name="r")


# ---- U-Net ---------------------------------------------------------------------------------------------------
def test_unet_valid_output_388():
    g = _graph("unet")
    # Ronneberger et al. 2015, Fig. 1: a 572×572 input tile gives a 388×388 output segmentation map
    assert g.ops[-1].out_shape == (1, 2, 388, 388)
    assert sum(op.attrs.get("fn") == "crop" for op in g) == 4  # one crop per skip


def test_unet_same_padding_keeps_size_without_crops():
    g = _graph("unet", padding="same", image_size=256)
    assert g.ops[-1].out_shape == (1, 2, 256, 256)
    assert not any(op.attrs.get("fn") == "crop" for op in g)


def test_unet_odd_size_is_an_error():
    # 573 valid: 573 - 4 = 569, odd before down0's pool; refused at the image_size key (the params model's check)
    with pytest.raises(pydantic.ValidationError, match=r"image_size\n.*odd 569×569 map before max-pool 'down0.pool'"):
        _graph("unet", image_size=573)


# ---- micro-workloads -----------------------------------------------------------------------------------------
def test_gemm_micro():
    g = _graph("gemm", m=64, n=32, k=16, batch=2)
    (op,) = g.ops
    assert op.kind is OpKind.LINEAR and op.in_shapes == ((128, 16),)
    assert op.macs == 2 * 64 * 32 * 16 and g.params == 32 * 16  # no bias by default


def test_conv2d_micro():
    g = _graph("conv2d", in_channels=32, out_channels=32, kernel_size=3, stride=2, padding="valid", groups=32,
               bias=False, height=15, width=15)
    (op,) = g.ops
    # floor((15 − 2 − 1) / 2) + 1 = 7; depthwise MACs 7·7·32·9
    assert op.out_shape == (1, 32, 7, 7) and op.macs == 7 * 7 * 32 * 9


# ---- manual layer lists --------------------------------------------------------------------------------------
def _load(name: str) -> tuple[str, dict]:
    data = yaml.safe_load((WORKLOADS / name).read_text())
    return data.pop("model"), data


def test_lenet5_layers_yaml_equals_builder():
    model, params = _load("lenet5_layers.yaml")
    g = build_workload(model, params)
    ref = _graph("lenet5")
    assert g.params == ref.params == 61_706
    assert g.macs == ref.macs
    assert [op.out_shape for op in g] == [op.out_shape for op in ref]


def _layers(*layers: dict, **extra: object) -> dict:
    return {"input": [1, 3, 16, 16], "layers": list(layers), **extra}


def test_manual_unknown_key_has_yaml_loc():
    spec = _layers({"type": "conv2d", "out_ch": 8, "kernel": 3}, {"type": "relu"}, {"type": "relu"},
                   {"type": "conv2d", "out_channels": 8, "kernel_sze": 3})
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("layers", spec)
    locs = [e["loc"] for e in info.value.errors()]
    assert ("layers", 3, "kernel_sze") in locs


def test_manual_layers_take_torch_argument_names():
    # torch.nn.Conv2d(3, 8, kernel_size=3) on 1×3×16×16: 8·3·3·3 + 8 = 224 params; output 14×14 → 14·14·8·27 MACs
    g = build_workload("layers", _layers({"type": "conv2d", "out_channels": 8, "kernel_size": 3}), default_dtype="int8")
    assert g.params == 8 * 3 * 3 * 3 + 8
    assert g.macs == 14 * 14 * 8 * 27


def test_manual_unknown_type_has_loc():
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("layers", _layers({"type": "conv4d", "out_ch": 8}))
    assert info.value.errors()[0]["loc"] == ("layers", 0, "type")


def test_manual_value_errors_have_one_loc_each():
    from accelsim.builders.manual import LayersParams

    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("layers", _layers({"type": "maxpool2d", "kernel": [1, 2, 3]}))
    assert [e["loc"] for e in info.value.errors()] == [("layers", 0, "kernel")]
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("layers", _layers())
    assert [e["loc"] for e in info.value.errors()] == [("layers",)]
    with pytest.raises(pydantic.ValidationError) as info:  # constructing the model directly gives the same locs
        LayersParams(input=[1, 4], layers=[{"type": "relu", "alpha": 1}])
    assert [e["loc"] for e in info.value.errors()] == [("layers", 0, "alpha")]


@pytest.mark.parametrize(("layer", "why"), [
    ({"type": "relu", "inputs": []}, "expected 1 layer name, not 0"),  # a one-input layer given none
    ({"type": "add", "inputs": ["input"]}, "expected 2 layer names, not 1"),
    ({"type": "multihead_attention", "embed_dim": 4, "num_heads": 2, "inputs": ["input", "input"]},
     "expected 1 or 3 layer names, not 2"),  # [x] or [query, key, value]
])
def test_manual_inputs_of_the_wrong_count_are_one_error_on_the_list(layer, why):
    # pydantic alone names an element that does not exist ("inputs.0: Field required" for an empty list)
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("layers", _layers(layer))
    (error,) = info.value.errors()
    assert error["loc"] == ("layers", 0, "inputs") and why in error["msg"]


def test_manual_inputs_and_residual():
    spec = _layers({"type": "conv2d", "name": "a", "out_ch": 3, "kernel": 3, "padding": 1},
                   {"type": "dropout", "name": "d"},
                   {"type": "add", "inputs": ["input", "d"]},
                   {"type": "adaptive_avgpool2d"}, {"type": "flatten"}, {"type": "linear", "out_features": 5})
    g = build_workload("layers", spec)
    add = next(op for op in g if op.fn == "add" and not op.attrs.get("eager_only"))  # not a conv's bias add
    assert add.inputs == ("input", "a.bias_add")  # dropout aliases its input (conv a's eager bias add: probe p235 #4)
    assert g.ops[-1].out_shape == (1, 5)


def test_manual_undefined_input_names_layer():
    with pytest.raises(WorkloadError, match=r"'nope'.*\(layers\[1\]\)"):
        build_workload("layers", _layers({"type": "relu"}, {"type": "relu", "inputs": ["nope"]}))


def test_manual_shape_error_names_index():
    with pytest.raises(WorkloadError, match=r"groups 2.*layers\[0\]"):
        build_workload("layers", _layers({"type": "conv2d", "out_ch": 4, "kernel": 1, "groups": 2}))


# ---- registry ------------------------------------------------------------------------------------------------
def test_unknown_workload_suggests():
    with pytest.raises(WorkloadError, match="unknown workload 'resnt50' \\(did you mean 'resnet50'\\?\\)"):
        get_builder("resnt50")


def test_unknown_param_raises_validation_error():
    with pytest.raises(pydantic.ValidationError):
        build_workload("resnet18", {"bacth": 2})


def test_dtype_default_and_meta():
    g = build_workload("lenet5", {"batch": 3}, default_dtype="int8")
    assert {op.dtype for op in g} == {"int8"}
    assert g.meta["model"] == "lenet5" and g.meta["batch"] == 3 and g.meta["dtype"] == "int8"
    assert g.meta["num_classes"] == 10
    assert {op.dtype for op in build_workload("lenet5", {"dtype": "fp32"}, default_dtype="int8")} == {"fp32"}


def test_every_units_dtype_is_a_workload_dtype_and_nothing_else():
    for dtype, width in DTYPE_BYTES.items():
        g = build_workload("gemm", {"m": 4, "n": 4, "k": 4, "dtype": dtype})
        # a 4-bit GEMM's 16 weights are stored two per byte; every other dtype takes its width per weight
        assert g.weight_bytes == (16 // 2 if dtype in ("fp4", "int4") else 16 * width)
    with pytest.raises(pydantic.ValidationError, match="fp12"):
        build_workload("gemm", {"dtype": "fp12"})


def test_dtype_names_are_listed_only_in_units():
    # one list of dtype names (units.DTYPE_BYTES): no other module spells out "bf16" or "tf32", names that only
    # a dtype list would hold
    pkg = ROOT / "accelsim"
    spelled = sorted(str(f.relative_to(pkg)) for f in pkg.rglob("*.py")
                     if any(isinstance(n, ast.Constant) and n.value in ("bf16", "tf32")
                            for n in ast.walk(ast.parse(f.read_text()))))
    assert spelled == ["units.py"]


def test_every_param_field_is_described():
    for entry in BUILDERS.values():
        for field_name, info in entry.params.model_fields.items():
            assert info.description, f"{entry.name}.{field_name} has no description"


def test_every_builder_has_a_preset_that_builds():
    presets = {p.stem: p for p in WORKLOADS.glob("*.yaml")}
    for name in BUILDERS:
        if name not in ("layers", "hf", "onnx", "torch"):  # they need a model description (layers, a config, a file); hf's presets: llama3_8b, ...; imports: tests/unit/test_import_onnx.py, test_import_torch.py
            assert name in presets, f"workloads/{name}.yaml is missing"
    for stem in presets:
        model, params = _load(f"{stem}.yaml")
        assert model in BUILDERS
        if stem in BUILDERS and model != "layers":
            assert model == stem
            # written-out defaults equal the model's defaults
            assert BUILDERS[model].params.model_validate(params) == BUILDERS[model].params()
        assert len(build_workload(model, params)) > 0


def test_builders_import_only_lower_layers():
    # STYLE.md import layers: builders see ir, errors, units (and draws, an L0 module of numpy arithmetic beside units),
    # pydantic, numpy, networkx and the stdlib only; never hardware, which accelsim.cost imports
    allowed = {"accelsim.ir", "accelsim.errors", "accelsim.units", "accelsim.draws", "pydantic", "numpy", "networkx"}
    allowed |= set(sys.stdlib_module_names)
    allowed |= {"onnx", "torch"}  # optional extras, imported inside builders/importers.py's, torch_fx.py's functions
    for path in (ROOT / "accelsim" / "builders").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                continue  # a sibling builder module
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                names = [f"accelsim.{node.module}"]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                top = name if name.startswith("accelsim.") else name.split(".")[0]
                assert top in allowed, f"builders/{path.name} imports {name}"
