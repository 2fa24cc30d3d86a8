"""PyTorch import (builders/torch_fx.py, optional extra accelsim[torch]): a torchvision-style ResNet-18 written
here gives the built-in resnet18's params (torchvision's published 11,689,512), MACs and simulated cycles; an LSTM
and attention model its torch.nn parameter count; unmapped nodes are one-line errors. Skipped without torch."""

from __future__ import annotations

import re

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.errors import WorkloadError
from accelsim.ir import OpKind

torch = pytest.importorskip("torch")
nn = torch.nn


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock's structure."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet18(nn.Module):
    """torchvision.models.resnet18's structure (BasicBlock × [2, 2, 2, 2])."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, planes in enumerate((64, 128, 256, 512)):
            blocks = [BasicBlock(inplanes, planes, 2 if i else 1), BasicBlock(planes, planes, 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def test_resnet18_equals_the_builtin():
    model = ResNet18()
    assert sum(p.numel() for p in model.parameters()) == 11_689_512  # torchvision's published count
    g = accelsim.from_torch(model, torch.zeros(1, 3, 224, 224))
    ref = build_workload("resnet18", {})
    assert g.params == ref.params == 11_689_512
    assert g.macs == ref.macs and g.flops == ref.flops
    assert [op.kind for op in g.ops] == [op.kind for op in ref.ops]
    assert "layer1.0.conv1.weight" in {w.name for op in g.ops for w in op.weights}  # named as named_parameters
    a = accelsim.simulate(accelsim.from_torch(model, torch.zeros(1, 3, 224, 224), dtype="int8"), "tpu-v1")
    b = accelsim.simulate("resnet18", "tpu-v1")  # the built-in takes the arch's dtype, int8
    assert a.to_dict()["bytes"] == b.to_dict()["bytes"] and a.total_cycles == b.total_cycles


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.rnn = nn.LSTM(16, 8, num_layers=2, bidirectional=True, batch_first=True)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 5)

    def forward(self, ids):
        x, _ = self.rnn(self.emb(ids))
        a, _ = self.attn(x, x, x)
        return torch.softmax(self.head(self.norm(a + x)), dim=-1)


def test_lstm_attention_model_params_equal_torch():
    model = Tagger()
    g = accelsim.from_torch(model, torch.zeros(2, 12, dtype=torch.long))
    assert g.params == sum(p.numel() for p in model.parameters())
    # LSTM MACs per torch.nn's equations: layer 0 2 dirs × 24 rows × 32·(16 + 8), layer 1 the same (16 inputs)
    lstm = 2 * 2 * 24 * 32 * (16 + 8)
    mha = 24 * 4 * 16 * 16 + 2 * 2 * 12 * 12 * 16  # projections, then scores and context
    assert g.macs == lstm + mha + 24 * 16 * 5
    assert g.ops[-1].out_shape == (2, 12, 5)


class Odd(nn.Module):
    """Three kinds of unmapped node (a function twice, a module, a method) and mapped nodes after them."""

    def __init__(self):
        super().__init__()
        self.shuffle = nn.PixelShuffle(2)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):  # x: 1 × 8 × 2 × 3 (48 elements)
        a = torch.cumsum(x, 1)  # 48 elements
        b = torch.relu(a)  # mapped, but reads an unmapped node: not listed
        c = torch.cumsum(b, 2)  # 48
        d = self.shuffle(c)  # 1 × 2 × 4 × 6: 48
        e = d.mean(1)  # 1 × 4 × 6: 24
        return self.fc(e)  # 1 × 4 × 4


def test_every_unmapped_kind_of_node_is_listed_in_one_line():
    with pytest.raises(WorkloadError) as e:
        accelsim.from_torch(Odd(), torch.zeros(1, 8, 2, 3))
    text = str(e.value)
    assert "\n" not in text
    assert re.fullmatch(r"Odd: nodes accelsim does not map: function \S*cumsum \(2: 'cumsum', \.\.\.\), "
                        r"module PixelShuffle \(1: 'shuffle'\), method \.mean\(\) \(1: 'mean'\); set "
                        r"workload\.unsupported=elementwise to price them as element-wise work", text), text


def test_unsupported_elementwise_prices_unmapped_nodes_over_their_outputs():
    g = accelsim.from_torch(Odd(), torch.zeros(1, 8, 2, 3), unsupported="elementwise")
    ops = {o.name: o for o in g.ops}
    generic = ["cumsum", "cumsum_1", "shuffle", "mean"]
    assert all(ops[n].kind is OpKind.ELEMENTWISE for n in generic)
    # 1 flop per output element: 48 + 48 + 48 + 24 (shapes in Odd.forward)
    assert [ops[n].flops for n in generic] == [48, 48, 48, 24]
    assert ops["shuffle"].attrs["fn"] == "torch_PixelShuffle"
    assert tuple(ops["relu"].inputs) == ("cumsum",)
    assert g.macs == 1 * 4 * 6 * 4  # the Linear after them: 4 rows × 6 in × 4 out
    assert len(g.meta["notes"]) == 3 and "2 node(s) (cumsum, cumsum_1)" in g.meta["notes"][0]


def test_torch_workload_from_a_factory(tmp_path, monkeypatch):
    (tmp_path / "fam_factory.py").write_text(
        "import torch\n\n"
        "def make():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.GELU()), torch.zeros(3, 8)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    g = build_workload("torch", {"factory": "fam_factory:make"})
    assert g.params == 8 * 4 + 4 and g.macs == 3 * 8 * 4
    with pytest.raises(WorkloadError, match="cannot import it"):
        build_workload("torch", {"factory": "fam_factory:missing"})
    (tmp_path / "odd_factory.py").write_text("import torch\n\ndef make():\n    return torch.nn.Softmin(1), "
                                             "torch.zeros(3, 8)\n")
    with pytest.raises(WorkloadError, match=r"softmin \(1: 'softmin'\)"):
        build_workload("torch", {"factory": "odd_factory:make"})
    g = build_workload("torch", {"factory": "odd_factory:make", "unsupported": "elementwise"})
    assert g.flops == 3 * 8  # one flop per output element


class TiedLM(nn.Module):
    """An embedding and an LM head sharing one weight (as GPT-2 ties them)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, ids):
        return self.head(self.emb(ids))


def test_tied_weights_counted_once_with_macs_for_each_use():
    model = TiedLM()
    assert sum(p.numel() for p in model.parameters()) == 10 * 4  # torch counts the shared tensor once
    g = accelsim.from_torch(model, torch.zeros(2, 3, dtype=torch.long))
    assert g.params == 40  # before: 80 (emb.weight and head.weight)
    assert g.macs == 2 * 3 * 4 * 10  # the head's 6 rows × 4 × 10; the look-up has none


@pytest.mark.parametrize("norm, x", [
    (nn.LayerNorm(8, elementwise_affine=False), (2, 8)),  # torch: no parameters (before: 16)
    (nn.LayerNorm(8, bias=False), (2, 8)),  # weight only: 8 (before: 16)
    (nn.LayerNorm((3, 8)), (2, 3, 8)),  # weight and bias of (3, 8): 48 (before: 16)
    (nn.BatchNorm1d(8, affine=False), (2, 8)),  # running statistics only, buffers: 0 (before: 16)
], ids=["ln-no-affine", "ln-no-bias", "ln-2d", "bn-no-affine"])
def test_norm_parameters_are_the_modules_own(norm, x):
    model = nn.Sequential(nn.Identity(), norm)  # a submodule, so fx calls the module (the root is traced through)
    g = accelsim.from_torch(model, torch.zeros(*x))
    assert g.params == sum(p.numel() for p in model.parameters())


class Direct(nn.Module):
    """A parameter matrix, a parameter bias and a buffer read directly in forward (fx get_attr nodes)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(4, 3))
        self.bias = nn.Parameter(torch.zeros(3))
        self.register_buffer("offset", torch.zeros(3))

    def forward(self, x):
        return (x @ self.w + self.bias) * self.offset


def test_parameters_read_directly_are_counted_buffers_are_not():
    model = Direct()
    g = accelsim.from_torch(model, torch.zeros(2, 4))  # before: get_attr was an unmapped node
    assert g.params == sum(p.numel() for p in model.parameters()) == 4 * 3 + 3
    assert g.macs == 2 * 4 * 3


class MatVec(nn.Module):
    def forward(self, a, b):
        return a @ b


def test_matmul_with_a_vector_follows_torch_matmul():
    # torch.matmul: a 1-D first operand is a row (1, k), a 1-D second one a column (k, 1), then dropped.
    # (4,) @ (2, 4, 3): 2 batches × 1·4·3 = 24 MACs (before: 12); (2, 5, 4) @ (4,): 2·5·4 = 40 (before: 80)
    g = accelsim.from_torch(MatVec(), (torch.zeros(4), torch.zeros(2, 4, 3)))
    assert g.macs == 24 and g.ops[-1].out_shape == (2, 3)
    g = accelsim.from_torch(MatVec(), (torch.zeros(2, 5, 4), torch.zeros(4)))
    assert g.macs == 40 and g.ops[-1].out_shape == (2, 5)


def test_a_forward_that_fails_on_the_example_inputs_is_one_line():
    model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(WorkloadError, match=r"Sequential fails on the example inputs at node '_0' \(RuntimeError: "
                                            r"mat1 and mat2") as info:
        accelsim.from_torch(model, torch.zeros(2, 5))  # 5 features into Linear(4, 4); before: a RuntimeError
    assert "\n" not in str(info.value)


def test_torch_workload_applies_batch_along_each_inputs_batch_axis(tmp_path, monkeypatch, capsys):
    # probe p278 #2: --batch was ignored (resnet18's batch-1 MACs at --batch 4). It multiplies each example input's
    # batch axis, as a layer list's batch multiplies its input's N
    (tmp_path / "p278_factories.py").write_text(
        "import torch\n"
        "from torch import nn\n\n"
        "def conv():\n"
        "    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))\n"
        "    return m, torch.zeros(1, 3, 16, 16)\n\n"
        "class Seq(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.rnn = nn.LSTM(8, 6)\n\n"
        "    def forward(self, x):\n"
        "        return self.rnn(x)[0]\n\n"
        "def seq_first():\n"
        "    return Seq(), torch.zeros(5, 2, 8)\n\n"
        "def vector():\n"
        "    return nn.Linear(8, 4), torch.zeros(8)\n\n"
        "class Baked(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x.view(2, 64)\n\n"
        "def baked():\n"
        "    return Baked(), torch.zeros(2, 4, 16)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    # conv 16·16·8·(3·9) = 55,296 MACs, linear 8·10 = 80 a sample; params 8·27 + 8 + 80 + 10 = 314
    one = build_workload("torch", {"factory": "p278_factories:conv"})
    four = build_workload("torch", {"factory": "p278_factories:conv", "batch": 4})
    assert one.macs == 55296 + 80 and four.macs == 4 * (55296 + 80) and four.params == one.params == 314
    assert (one.meta["batch"], four.meta["batch"]) == (1, 4)
    # an LSTM without batch_first reads (L, N, H): the batch is dim 1, N 2 → 6; MACs per step and sample
    # 4H·(I + H) = 24·14 = 336, 5 steps
    g = build_workload("torch", {"factory": "p278_factories:seq_first", "batch": 3})
    assert g.macs == 5 * 2 * 3 * 336 and g.meta["batch"] == 6
    # no batch axis (a 1-D input), or a size written into the forward: one line at batch, exit status 2
    err = _cli_error(capsys, "info", "torch:p278_factories:vector", "--batch", "4")
    assert "batch 4: example input 'input_1' [8]" in err and "set workload.batch_dim" in err
    assert "leave batch at 1" in err
    err = _cli_error(capsys, "info", "torch:p278_factories:baked", "--set", "workload.batch_dim=0", "--batch", "2")
    assert "fails on the example inputs (their batch axis × batch 2" in err
    # no module fixes Baked's input's batch axis: batch 1, dim 0 not guessed (probe p286 #1; before: 2)
    assert build_workload("torch", {"factory": "p278_factories:baked"}).meta["batch"] == 1


class SeqFirst(nn.Module):
    """A Linear on a sequence-first (S, N, E) input, then attention per sample without MultiheadAttention (probe
    p286 #1's tfac.py ``custom``): no module reading ``x`` fixes its batch axis."""

    def __init__(self, e: int):
        super().__init__()
        self.q = nn.Linear(e, e)

    def forward(self, x):
        q = self.q(x).transpose(0, 1)  # (N, S, E)
        return torch.softmax(q @ q.transpose(1, 2), -1) @ q  # (N, S, S) scores


class SeqFirstBias(SeqFirst):
    """SeqFirst with an (S, S) input added to the scores: an input with no batch axis."""

    def forward(self, x, bias):
        q = self.q(x).transpose(0, 1)
        return torch.softmax(q @ q.transpose(1, 2) + bias, -1) @ q


def _seq_first_macs(s: int, n: int, e: int) -> int:
    """Hand count for SeqFirst: the Linear S·N rows × E × E, then per sample QKᵀ S·S·E and AV S·S·E."""
    return s * n * e * e + n * s * s * e + n * s * s * e


def test_a_batch_axis_no_module_fixes_is_named_not_guessed(tmp_path, monkeypatch, capsys):
    # probe p286 #1: --batch 4 scaled dim 0 of (S=128, N=1, E=64), the sequence: 35,651,584 MACs where the hand
    # count of 4 samples is 10,485,760, and workload.batch was 128 (S) with or without --batch
    assert _seq_first_macs(128, 4, 64) == 10_485_760  # the finding's figure, from the hand count above
    model, x = SeqFirst(4), torch.zeros(8, 2, 4)  # S 8, N 2, E 4
    g = accelsim.from_torch(model, x)
    assert g.macs == _seq_first_macs(8, 2, 4) and g.meta["batch"] == 1  # before: batch 8 (S)
    assert "dim 0 is not guessed" in g.meta["notes"][0] and "batch_dim" in g.meta["notes"][0]
    # named by batch_dim: the N axis; batch 3 makes 6 samples of 8 positions (S stays 8)
    g = accelsim.from_torch(model, x, batch_dim=1)
    assert g.meta["batch"] == 2 and "notes" not in g.meta
    g = accelsim.from_torch(model, x, batch=3, batch_dim=1)
    assert g.macs == _seq_first_macs(8, 6, 4) and g.meta["batch"] == 6
    # per input: the (S, S) score bias has no batch axis (null), it is not scaled
    biased, bias = SeqFirstBias(4), torch.zeros(8, 8)
    g = accelsim.from_torch(biased, (x, bias), batch=3, batch_dim=[1, None])
    assert g.macs == _seq_first_macs(8, 6, 4) and g.meta["batch"] == 6
    with pytest.raises(WorkloadError, match="would scale nothing") as e:
        accelsim.from_torch(biased, (x, bias), batch=3, batch_dim=[None, None])
    assert e.value.key == ("batch",)
    # unsaid with batch other than 1: one line at batch naming the input and batch_dim, exit status 2
    (tmp_path / "p286_factories.py").write_text(
        "import torch\n"
        "from torch import nn\n\n"
        "class T(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.q = nn.Linear(4, 4)\n\n"
        "    def forward(self, x):\n"
        "        q = self.q(x).transpose(0, 1)\n"
        "        return torch.softmax(q @ q.transpose(1, 2), -1) @ q\n\n"
        "def seq_first():\n"
        "    return T(), torch.zeros(8, 2, 4)\n\n"
        "class L(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.rnn = nn.LSTM(4, 3)\n\n"
        "    def forward(self, x):\n"
        "        return self.rnn(x)[0]\n\n"
        "def lstm():\n"
        "    return L(), torch.zeros(8, 2, 4)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    err = _cli_error(capsys, "info", "torch:p286_factories:seq_first", "--batch", "4")
    assert "workload.batch" in err and "example input 'x' [8, 2, 4]" in err and "set workload.batch_dim" in err
    g = build_workload("torch", {"factory": "p286_factories:seq_first", "batch": 4, "batch_dim": 1})
    assert g.macs == _seq_first_macs(8, 8, 4) and g.meta["batch"] == 8
    # a batch_dim other than the one the reading LSTM fixes (dim 1 without batch_first), past the input's dims, or
    # a list of the wrong length: one line at batch_dim
    for said, what in ((0, "read by LSTM 'rnn' with its batch at dim 1, not 0"), (3, "[8, 2, 4] has no dim 3")):
        err = _cli_error(capsys, "info", "torch:p286_factories:lstm", "--set", f"workload.batch_dim={said}")
        assert "workload.batch_dim" in err and what in err
    err = _cli_error(capsys, "info", "torch:p286_factories:seq_first", "--set", "workload.batch_dim=[1, 1]")
    assert "one entry per example input, 1 here" in err
    err = _cli_error(capsys, "info", "torch:p286_factories:seq_first", "--set", "workload.batch_dim=-1")
    assert "workload.batch_dim" in err and "0 or more" in err
    with pytest.raises(WorkloadError, match="0 or more") as e:  # from Python: not taken as torch's last dim
        accelsim.from_torch(model, x, batch=2, batch_dim=-1)
    assert e.value.key == ("batch_dim",)


def test_batch_where_a_reading_module_fixes_the_axis():
    # a conv reads ResNet-18's input: dim 0, so batch 4 is 4 images, the built-in resnet18's batch 4
    g = accelsim.from_torch(ResNet18(), torch.zeros(1, 3, 224, 224), batch=4)
    assert g.macs == build_workload("resnet18", {"batch": 4}).macs == 4 * build_workload("resnet18", {}).macs
    assert g.meta["batch"] == 4
    # MultiheadAttention without batch_first reads (L, N, E): dim 1; 2 samples of 5 tokens, E 4, 2 heads:
    # projections 4 of 5·2 rows × 4 × 4, scores and context 2 × N 2 × heads 2 × 5·5·2 (head dim 2)
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(4, 2)

        def forward(self, x):
            return self.attn(x, x, x)[0]

    g = accelsim.from_torch(Attn(), torch.zeros(5, 2, 4))
    assert g.meta["batch"] == 2
    g = accelsim.from_torch(Attn(), torch.zeros(5, 2, 4), batch=3)
    n = 6
    assert g.meta["batch"] == n and g.macs == 4 * 5 * n * 4 * 4 + 2 * n * 2 * 5 * 5 * 2
    # no input's axis is fixed, but a recurrent layer's N is the samples: an Embedding of (2, 12) token ids, then
    # a batch_first LSTM (Tagger): batch 2, as before
    assert accelsim.from_torch(Tagger(), torch.zeros(2, 12, dtype=torch.long)).meta["batch"] == 2


def _cli_error(capsys, *argv: str) -> str:
    from accelsim.cli import main

    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("accelsim: error: ") and "\n" not in err and "Traceback" not in err
    return err
