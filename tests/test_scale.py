"""Models bigger than one device: accelerate's big-model loading (`models.Placement`) scores like the whole model.

On a CPU-only machine a `max_memory` cap on "cpu" pushes the rest of the model to an offload folder on disk (its
weights on the meta device until a layer runs), which exercises the same hooks and offloaded-weight paths as a
model spread over GPUs and CPU memory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from iclft import models
from iclft.datasets.schema import Question
from iclft.errors import UserError
from iclft.models import Placement
from iclft.scoring import score_questions

QUESTIONS = [
    Question(id="a", prompt="The glon are heavier than the", choices=[" femp.", " river.", " stone."], answer=0),
    Question(id="b", prompt="Paris is the capital of", choices=[" France.", " Spain."], answer=0),
    Question(id="c", prompt="", choices=[" Yes", " No"], answer=0),
]
CONTEXT = "The glon are heavier than the femp. They sleep by the river. " * 3


def make_untied_model(folder: Path, layers: int = 6) -> Path:
    """A random Llama with separate input and output embeddings and wide MLPs, the embedded model's tokenizer:
    11 MB in fp32, the embeddings 3.1 MB each, a layer 0.8 MB (accelerate keeps room for the largest module
    beside the layers it places, so a cap of 8 MB keeps the embedding and two layers in memory)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    if (folder / "config.json").exists():
        return folder
    tok = AutoTokenizer.from_pretrained(models.resolve(models.DEFAULT_MODEL))
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=4096, num_hidden_layers=layers,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                      tie_word_embeddings=False, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_untied_model(tmp_path_factory.mktemp("scale") / "tiny")


def test_offloaded_model_scores_like_the_whole_model(tiny, tmp_path):
    whole = models.load(tiny, device="cpu", dtype="float32")
    place = Placement.of("auto", "cpu=8MB", tmp_path / "offload")
    split = models.load(tiny, device="cpu", dtype="float32", placement=place)
    where = set(split.model.hf_device_map.values())
    assert "disk" in where and where - {"disk"}, split.model.hf_device_map  # part in memory, part on disk
    assert split.model.lm_head.weight.device.type == "meta"  # the scorer must fetch the offloaded head
    for context in ("", CONTEXT):
        a = score_questions(whole, QUESTIONS, context)
        b = score_questions(split, QUESTIONS, context, batch_tokens=16)  # several forwards through the hooks
        for x, y in zip(a, b):
            assert x.logprobs == pytest.approx(y.logprobs, abs=1e-3)
            assert x.n_tokens == y.n_tokens


def test_placement_values_are_checked():
    assert Placement.of() is None
    assert Placement.of("auto", "0=70GiB, cpu=100GiB").kwargs() == {
        "device_map": "auto", "max_memory": {0: "70GiB", "cpu": "100GiB"}}
    assert Placement.of("auto", {0: "1GiB", "cpu": 10**9}).max_memory == ((0, "1GiB"), ("cpu", 10**9))
    for bad in ("0:70GiB", "=3", "cpu=", ","):
        with pytest.raises(UserError, match="max memory"):
            Placement.of("auto", bad)
    with pytest.raises(UserError, match="unknown device map"):
        Placement.of("everywhere")
    with pytest.raises(UserError, match="need a device map"):
        Placement.of(None, "cpu=1GiB")



def test_safetensors_weights_offload_without_a_folder(tiny):
    split = models.load(tiny, device="cpu", dtype="float32", placement=Placement.of("auto", "cpu=8MB"))
    assert "disk" in split.model.hf_device_map.values()
    assert score_questions(split, QUESTIONS[:1])[0].logprobs == pytest.approx(
        score_questions(models.load(tiny, device="cpu", dtype="float32"), QUESTIONS[:1])[0].logprobs, abs=1e-3)


def test_study_model_placement_reaches_the_jobs_but_not_the_cell_keys(tmp_path):
    from iclft.study import config, runner

    data = {"datasets": {"reversals": {"params": {"n_facts": 4, "validation_facts": 1}}},
            "models": {"m": {"path": models.DEFAULT_MODEL}}, "conditions": {"pretrained": {}, "ft": {"max_steps": 2}}}
    plain = runner.plan(config.from_dict(data, tmp_path / "s.yaml"))
    data["models"]["m"].update(device_map="auto", max_memory={0: "70GiB", "cpu": "100GiB"}, offload_folder="off")
    study = config.from_dict(data, tmp_path / "s.yaml")
    placed = runner.plan(study)
    place = Placement("auto", ((0, "70GiB"), ("cpu", "100GiB")), str(tmp_path / "off"))
    assert study.models[0].placement == place and all(c.job.placement == place for c in placed.cells)
    assert [c.key for c in placed.cells] == [c.key for c in plain.cells]  # where weights sit changes no score
    assert study.normalized()["models"]["m"]["placement"]["device_map"] == "auto"
    del data["models"]["m"]["device_map"]
    with pytest.raises(UserError, match="need a device_map"):
        config.from_dict(data, tmp_path / "s.yaml")
