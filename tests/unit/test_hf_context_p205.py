"""Probe p205 #3 (second part): "Nine other hf presets also lack the field (deepseek_v2_lite, glm4_5_air,
qwen3_next_80b, llama4_scout, ...), so their context note can never fire either."

Every shipped ``model: hf`` preset either has a context (``hf.scaled_context`` of its fields: the config's
``max_position_embeddings``, scaled as vLLM scales it, or the config class's default from
``hfspec.CONTEXT_DEFAULTS``) or is listed in ``NO_CONTEXT`` below with the reason. A new hf preset without a
context fails here until its published ``max_position_embeddings`` is copied (with the config cited) or it is listed;
one that gains a context must leave the list (and docs/configuration.md's list of them).

The nine listed presets copy only the fields that shape the model from their published config.json. Their
``max_position_embeddings`` was not added: the published files (the repository each preset's header comment cites)
could not be read for it when this list was written, and a value may only be copied from the file itself, not from a
quantised or fine-tuned copy of it (STYLE: every number from a citable reference)."""

from __future__ import annotations

import yaml

from accelsim.builders.hf import HfParams, scaled_context
from accelsim.config import load_workload
from accelsim.config.presets import preset_dir

_NOT_READ = "the published config.json (the preset's header comment names it) was not read for max_position_embeddings"

NO_CONTEXT = {
    "deepseek_v2_lite": _NOT_READ + " (deepseek-ai/DeepSeek-V2-Lite; it also sets a yarn rope_scaling)",
    "glm4_5_air": _NOT_READ + " (zai-org/GLM-4.5-Air)",
    "qwen3_next_80b": _NOT_READ + " (Qwen/Qwen3-Next-80B-A3B-Instruct)",
    "llama4_scout": _NOT_READ + " (meta-llama/Llama-4-Scout-17B-16E-Instruct, its text_config; also rope_scaling)",
    "falcon_h1_7b": _NOT_READ + " (tiiuae/Falcon-H1-7B-Instruct)",
    "granite_4_h_tiny": _NOT_READ + " (ibm-granite/granite-4.0-h-tiny)",
    "kimi_linear_48b": _NOT_READ + " (moonshotai/Kimi-Linear-48B-A3B-Instruct)",
    "nemotron_nano_9b_v2": _NOT_READ + " (nvidia/NVIDIA-Nemotron-Nano-9B-v2)",
    "nemotron3_nano_30b": _NOT_READ + " (nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16)",
}


def _hf_presets() -> dict[str, dict]:
    """The shipped hf workload presets' fields (the config's, as the builder reads them), by preset name."""
    out = {}
    for path in sorted(preset_dir("workloads").glob("*.yaml")):
        w = load_workload(path.stem)
        if w.model == "hf":
            out[path.stem] = HfParams(**w.params).fields()
    return out


def test_every_hf_preset_has_a_context_or_is_listed_with_a_reason():
    presets = _hf_presets()
    without = {name for name, fields in presets.items() if scaled_context(fields)[0] is None}
    # exactly the listed ones: a new preset without a context, or a listed one that gained it, fails here
    assert without == set(NO_CONTEXT), (sorted(without - set(NO_CONTEXT)), sorted(set(NO_CONTEXT) - without))
    assert all(NO_CONTEXT[name].strip() for name in NO_CONTEXT)
    # the others' contexts are positive token counts (gemma3_27b's from Gemma3TextConfig's default 131,072)
    assert all(scaled_context(f)[0] > 0 for n, f in presets.items() if n not in NO_CONTEXT)
    assert scaled_context(presets["gemma3_27b"])[0] == 131_072


def test_the_listed_presets_write_no_context_of_their_own():
    # the reason holds: none of the listed files writes the field (at the top or in a text_config)
    for name in NO_CONTEXT:
        text = (preset_dir("workloads") / f"{name}.yaml").read_text()
        assert "max_position_embeddings" not in yaml.safe_load(text), name
        assert "max_position_embeddings" not in (yaml.safe_load(text).get("text_config") or {}), name

