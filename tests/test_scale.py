"""Models bigger than one device: accelerate's big-model loading (`models.Placement`) scores like the whole model.

On a CPU-only machine a `max_memory` cap on "cpu" pushes the rest of the model to an offload folder on disk (its
weights on the meta device until a layer runs), which exercises the same hooks and offloaded-weight paths as a
model spread over GPUs and CPU memory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iclft import models
from iclft.datasets.schema import Question
from iclft.errors import UserError
from iclft.models import Placement
from iclft.scoring.likelihood import score_questions

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


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])  # bf16: fp32 weights cast, offloaded ones too
def test_offloaded_model_scores_like_the_whole_model(tiny, tmp_path, dtype):
    whole = models.load(tiny, device="cpu", dtype=dtype)
    place = Placement.of("auto", "cpu=8MB" if dtype == "float32" else "cpu=4MB", tmp_path / "offload")
    split = models.load(tiny, device="cpu", dtype=dtype, placement=place)
    where = set(split.model.hf_device_map.values())
    assert "disk" in where and where - {"disk"}, split.model.hf_device_map  # part in memory, part on disk
    assert split.model.lm_head.weight.device.type == "meta"  # the scorer must fetch the offloaded head
    for context in ("", CONTEXT):
        a = score_questions(whole, QUESTIONS, context, batch_tokens=16)  # the same batches (bf16 numerics differ
        b = score_questions(split, QUESTIONS, context, batch_tokens=16)  # by shape): several forwards through hooks
        for x, y in zip(a, b):
            assert x.logprobs == pytest.approx(y.logprobs, abs=1e-3)
            assert x.n_tokens == y.n_tokens


def test_embedded_model_offloaded_scores_like_the_whole_model(lm, tmp_path):
    """SmolLM2-135M (540 MB in fp32) with 300 MB in memory, the rest on disk."""
    split = models.load(models.DEFAULT_MODEL, device="cpu", dtype="float32",
                        placement=Placement.of("auto", "cpu=300MB", tmp_path / "offload"))
    assert {"cpu", "disk"} <= set(split.model.hf_device_map.values()), split.model.hf_device_map
    for x, y in zip(score_questions(lm, QUESTIONS, CONTEXT), score_questions(split, QUESTIONS, CONTEXT)):
        assert x.logprobs == pytest.approx(y.logprobs, abs=1e-3)

def test_placement_values_are_checked():
    assert Placement.of() is None
    assert Placement.of("auto", "0=70GiB, cpu=100GiB").kwargs() == {
        "device_map": "auto", "max_memory": {0: "70GiB", "cpu": "100GiB"}}
    assert Placement.of("auto", {0: "1GiB", "cpu": 10**9}).max_memory == ((0, "1GiB"), ("cpu", 10**9))
    assert Placement.of("auto", "cpu=1000").max_memory == (("cpu", 1000),)  # a bare number is bytes
    for bad in ("0:70GiB", "=3", "cpu=", ",", "cpu=lots"):
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
    from iclft.study import config, grid

    data = {"datasets": {"reversals": {"params": {"n_facts": 4, "validation_facts": 1}}},
            "models": {"m": {"path": models.DEFAULT_MODEL}}, "conditions": {"pretrained": {}, "ft": {"max_steps": 2}}}
    plain = grid.expand(config.from_dict(data, tmp_path / "s.yaml"))
    data["models"]["m"].update(device_map="auto", max_memory={0: "70GiB", "cpu": "100GiB"}, offload_folder="off")
    study = config.from_dict(data, tmp_path / "s.yaml")
    placed = grid.expand(study)
    place = Placement("auto", ((0, "70GiB"), ("cpu", "100GiB")), str(tmp_path / "off"))
    assert study.models[0].placement == place and all(c.job.placement == place for c in placed.cells)
    assert [c.key for c in placed.cells] == [c.key for c in plain.cells]  # where weights sit changes no score
    assert study.normalized()["models"]["m"]["placement"]["device_map"] == "auto"
    del data["models"]["m"]["device_map"]
    with pytest.raises(UserError, match="need a device_map"):
        config.from_dict(data, tmp_path / "s.yaml")


# ---------------------------------------------------------------- fine-tuning: FSDP launch, options

FSDP_WORKER = r'''
import json, os, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from transformers import AutoModelForCausalLM, AutoTokenizer
from iclft import distributed
from iclft.datasets.schema import Document
from iclft.learners import finetune

model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
rank = int(os.environ["RANK"])
docs = [Document(id=f"d{i}", text=f"The glon{i} are heavier than the femp{i}.") for i in range(8)]
opts = finetune.FTOptions(lr=3e-3, max_steps=3, batch_size=2, precision="fp32")
from accelerate.utils import FullyShardedDataParallelPlugin
plugin = FullyShardedDataParallelPlugin()  # from the launch's environment, as accelerate builds it on GPUs
res = finetune.finetune(str(model_dir), docs, opts, seed=0)  # gathers through trainer.save_model under FSDP
trained = AutoModelForCausalLM.from_pretrained(res.path).state_dict()
base = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
(out / f"rank{rank}.json").write_text(json.dumps({
    "fsdp": distributed.fsdp(), "path": str(res.path), "plugin": [plugin.fsdp_version, str(plugin.state_dict_type),
    plugin.activation_checkpointing, plugin.reshard_after_forward, str(plugin.auto_wrap_policy)], "losses": [c["loss"] for c in res.losses],
    "world_size": res.stats["world_size"], "moved": sum(not torch.equal(trained[k], base[k]) for k in base)}))
'''


def test_fsdp_config_launch_gathers_and_caches_the_full_model(tmp_path, tiny_model):
    """configs/accelerate/fsdp.yaml in a 2-process CPU launch. accelerate (1.15) shards only on GPU-type
    launches: on a CPU it runs the processes data-parallel (AcceleratorState keeps MULTI_CPU and drops the FSDP
    plugin), so this checks the launch config and iclft's FSDP path (every rank gathers through
    trainer.save_model, rank 0 reloads and caches), not the sharding itself (that needs GPUs: benchmarks/gpu.sh)."""
    from test_ft_ddp import launch

    root = Path(__file__).resolve().parents[1]
    launch(tmp_path, FSDP_WORKER, tiny_model, 29531, ["--config_file", str(root / "configs/accelerate/fsdp.yaml")])
    ranks = [json.loads((tmp_path / f"rank{i}.json").read_text()) for i in (0, 1)]
    assert all(r["fsdp"] and r["world_size"] == 2 for r in ranks)
    version, state_dict, checkpointing, reshard, wrap = ranks[0]["plugin"]
    assert (version, checkpointing, reshard) == (2, True, True) and "FULL_STATE_DICT" in state_dict, ranks[0]["plugin"]
    assert ranks[0]["path"] == ranks[1]["path"] and ranks[0]["moved"] > 0
    assert len(ranks[0]["losses"]) == 3 and ranks[0]["losses"][-1] < ranks[0]["losses"][0]


def test_gathered_lora_adapter_reloads_to_the_trained_model(tmp_path, tiny_model):
    """The FSDP path's reload (`_reload`: base + the saved adapter, merged) equals merging the trained model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from iclft.datasets.schema import Document
    from iclft.learners import finetune
    from iclft.learners.ft_data import encode, examples

    model_dir = tiny_model
    tok = AutoTokenizer.from_pretrained(model_dir)
    opts = finetune.FTOptions(lr=3e-3, max_steps=2, batch_size=2, precision="fp32", lora={"r": 4})
    docs = [Document(id=f"d{i}", text=f"The glon{i} are heavier than the femp{i}.") for i in range(4)]
    feats = [encode(tok, e, 64) for e in examples(docs)]
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir),
                           LoraConfig(r=4, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    finetune.train(model, tok, feats, opts, 0, tmp_path / "work", gather_to=tmp_path / "gathered")
    want = model.merge_and_unload().state_dict()
    got = finetune._reload(model_dir, tmp_path / "gathered", lora=True).merge_and_unload().state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)


def test_memory_options_leave_default_keys_unchanged():
    from iclft.learners.finetune import FTOptions, Options

    dump = FTOptions().model_dump(mode="json")
    assert "optim" not in dump and dump["gradient_checkpointing"] is False  # keys made before `optim` hold
    assert FTOptions(optim="adafactor").model_dump()["optim"] == "adafactor"
    assert Options(optim="adamw_8bit").training().optim == "adamw_8bit"  # a name; bitsandbytes only when run
    with pytest.raises(ValueError, match="unknown optimizer"):
        FTOptions(optim="adamw_fast")


def test_score_cli_takes_a_device_map_and_rejects_bad_caps(tiny, tmp_path, cli):
    from test_score_cli import _questions
    from typer.testing import CliRunner

    from iclft.cli import app

    args = _questions(tmp_path, [json.dumps(q.model_dump()) for q in QUESTIONS])
    split = cli(*args, "--model", tiny, "--device", "cpu", "--dtype", "float32", "--device-map", "auto",
                "--max-memory", "cpu=8MB")
    assert split.returncode == 0, split.stderr[-2000:]
    got = [json.loads(x)["logprobs"] for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    want = score_questions(models.load(tiny, device="cpu", dtype="float32"), QUESTIONS)
    assert all(g == pytest.approx(w.logprobs, abs=1e-3) for g, w in zip(got, want))
    bad_out = tmp_path / "bad.jsonl"
    r = CliRunner().invoke(app, ["score", "--questions", str(tmp_path / "q.jsonl"), "--out", str(bad_out),
                                 "--model", str(tiny), "--device-map", "auto", "--max-memory", "cpu:8MB"])
    assert isinstance(r.exception, UserError) and "max memory" in str(r.exception)  # main() prints it as one line
    assert not bad_out.exists()
