"""`ft_think_rl`: the split of knowledge, GRPO end to end (plumbing, not an effect), caching and a killed run, and
bad input as one line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from safetensors import safe_open
from test_learners import ft_cache  # noqa: F401  (the fixture: a private FT and RL cache)

from iclft import learners, models
from iclft.cells import Job
from iclft.datasets.schema import Dataset, Document, Question
from iclft.errors import UserError
from iclft.learners import rl_think

pytest.importorskip("trl")

PAIRS = [("glon", "femp"), ("troff", "yomp"), ("dax", "wug"), ("blick", "zorp"), ("mip", "tasp"), ("crel", "vosk")]


def world() -> Dataset:
    """Six facts, each trained, asked on the validation side (forward) and on test (reversed)."""
    docs = [Document(id=f"d{i}", text=f"The {a} are heavier than the {b}.", facts=[f"f{i}"])
            for i, (a, b) in enumerate(PAIRS)]

    def ask(i: int, a: str, b: str, part: str) -> Question:
        prompt = f"The {a} are" if part == "validation" else f"The {b} are"
        choices = [f" heavier than the {b}.", f" lighter than the {b}."] if part == "validation" else \
            [f" lighter than the {a}.", f" heavier than the {a}."]
        return Question(id=f"{part[0]}{i}", prompt=prompt, choices=choices, answer=0,
                        split="rephrased" if part == "validation" else "reversal", facts=[f"f{i}"])

    return Dataset(name="toy", train=docs, test=[ask(i, a, b, "test") for i, (a, b) in enumerate(PAIRS)],
                   validation=[ask(i, a, b, "validation") for i, (a, b) in enumerate(PAIRS)])


def options(**rl) -> rl_think.Options:
    return rl_think.Options.model_validate({
        "exposure": {"condition": "ft", "max_steps": 1, "batch_size": 2},
        "rl": {"steps": 2, "prompts_per_step": 1, "num_generations": 2, "lr": 1e-2, "precision": "fp32", **rl},
        "think": {"max_new_tokens": 4}})


def weights(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


# ---------------------------------------------------------------- the split of knowledge (no model)


def test_facts_split_seeded_into_an_rl_set_and_questions_come_from_it():
    ds = world()
    rl = rl_think.rl_facts(ds, 0.5, seed=0)
    assert len(rl) == 3 and rl == rl_think.rl_facts(ds, 0.5, seed=0) != rl_think.rl_facts(ds, 0.5, seed=1)
    assert rl_think.knowledge_set(["f0", "f1"], frozenset({"f0", "f1"})) == rl_think.RL
    assert rl_think.knowledge_set(["f0", "f1"], frozenset({"f2"})) == rl_think.HELDOUT
    assert rl_think.knowledge_set(["f0", "f1"], frozenset({"f1"})) == rl_think.MIXED
    asked = rl_think.rl_questions(ds, rl_think.RLOptions())
    assert {q.facts[0] for q in asked} == rl and all(q in ds.validation for q in asked)  # never a test question


@pytest.mark.parametrize("change, message", [
    (lambda ds: ds.model_copy(update={"validation": []}), "no validation questions about the RL set's facts"),
    (lambda ds: ds.model_copy(update={"validation": [q.model_copy(update={"answer": None}) for q in ds.validation]}),
     "has no answer; its reward cannot be computed"),
])
def test_rl_without_training_questions_or_answers_is_one_line(change, message):
    with pytest.raises(UserError, match=message) as e:
        rl_think.rl_questions(change(world()), rl_think.RLOptions())
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("raw, message", [
    ({"rl": {"trainer": {"no_such_option": 1}}}, "rl.trainer.no_such_option: not a GRPOConfig option"),
    ({"rl": {"trainer": {"max_steps": 3}}}, "rl.trainer.max_steps is set by iclft"),
    ({"exposure": {"condition": "icl"}}, "exposure.condition 'icl' does not fine-tune"),
    ({"exposure": {"condition": "ft", "epochz": 2}}, "exposure: "),
])
def test_bad_options_are_one_line_before_anything_runs(raw, message):
    job = Job(dataset=world(), model=models.DEFAULT_MODEL, seed=0)
    with pytest.raises(UserError, match=message) as e:
        learners.get("ft_think_rl").plan(job, rl_think.Options.model_validate(raw))
    assert "\n" not in str(e.value)


def test_without_trl_the_condition_says_how_to_install_it(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_trl(name, *args, **kwargs):
        if name == "trl" or name.startswith("trl."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_trl)
    with pytest.raises(UserError, match=r"needs TRL: pip install 'iclft\[rl\]'"):
        rl_think.check_trainer_options(rl_think.RLOptions())


def test_a_bad_trainer_option_in_a_study_is_one_line_and_writes_nothing(cli, tmp_path):
    config = tmp_path / "rl.yaml"
    config.write_text("name: rl\ndatasets: {reversals: {params: {n_facts: 6, articles_per_fact: 1, validation_facts: 2}}}"
                      "\nmodels: [smollm2-135m-instruct]\nconditions: {ft_think_rl: {rl: {trainer: {warp: 9}}}}\n")
    res = cli("study", str(config), "--dry-run", "--out", str(tmp_path / "out"))
    assert res.returncode != 0 and "rl.trainer.warp: not a GRPOConfig option" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- GRPO end to end (the tiny random model)


def _exposed(tiny_model: Path, job: Job, opts: rl_think.Options):
    """The FT exposure RL starts from (cached) and the RL questions."""
    work = learners.get("ft_think_rl").plan(job, opts)
    return work.base.expose(job), work.questions


@pytest.mark.slow  # 8-18 s on 2 shared cores: over the default suite's budget
@pytest.mark.parametrize("lora", [None, {"r": 4}], ids=["full", "lora"])
@pytest.mark.usefixtures("ft_cache")
def test_a_few_grpo_steps_change_the_model_record_the_curve_and_are_cached(tiny_model, lora):
    job = Job(dataset=world(), model=str(tiny_model), seed=0, device="cpu", dtype="float32")
    opts = options(lora=lora)
    exposed, questions = _exposed(tiny_model, job, opts)
    base = Path(exposed.lm.path)
    run = rl_think.reinforce(job, base, questions, opts, exposed.format, exposed.instruction, seed=0)
    assert run.trained and run.stats["steps"] == 2 and [c["step"] for c in run.curve] == [1, 2]
    assert all({"loss", "reward", "correct"} <= set(c) for c in run.curve)
    assert weights(run.path) != weights(base)
    with safe_open(run.path / "model.safetensors", "pt") as f:
        assert not any("lora" in k for k in f.keys())  # LoRA merged: a plain model folder
    again = rl_think.reinforce(job, base, questions, opts, exposed.format, exposed.instruction, seed=0)
    assert (again.trained, again.path, again.curve) == (False, run.path, run.curve)


@pytest.mark.slow
@pytest.mark.usefixtures("ft_cache")
def test_a_killed_rl_run_leaves_nothing_and_its_rerun_gives_the_same_model(tiny_model, monkeypatch):
    """RL is not resumed mid-run (no trainer checkpoints): a killed run leaves no folder and reruns from its first
    step; seeded, the rerun's weights are the uninterrupted run's, byte for byte."""
    job = Job(dataset=world(), model=str(tiny_model), seed=0, device="cpu", dtype="float32")
    opts = options()
    exposed, questions = _exposed(tiny_model, job, opts)
    base = Path(exposed.lm.path)
    whole = rl_think.reinforce(job, base, questions, opts, exposed.format, exposed.instruction, seed=0)
    expected = weights(whole.path)
    for p in sorted(whole.path.iterdir()):
        p.unlink()
    whole.path.rmdir()

    calls = {"n": 0}
    real = rl_think.Reward.__call__

    def killed(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(rl_think.Reward, "__call__", killed)
    with pytest.raises(KeyboardInterrupt):
        rl_think.reinforce(job, base, questions, opts, exposed.format, exposed.instruction, seed=0)
    assert not list((models.cache_dir() / "rl").iterdir())  # nothing half-written
    monkeypatch.setattr(rl_think.Reward, "__call__", real)
    rerun = rl_think.reinforce(job, base, questions, opts, exposed.format, exposed.instruction, seed=0)
    assert rerun.trained and weights(rerun.path) == expected and rerun.curve == whole.curve


@pytest.mark.slow
@pytest.mark.usefixtures("ft_cache")
def test_grpo_on_the_embedded_model_runs_end_to_end_and_changes_it():
    """The real model: two GRPO steps after FT, the curve recorded and the weights changed (plumbing, no effect)."""
    job = Job(dataset=world(), model=models.DEFAULT_MODEL, seed=0, device="cpu", dtype="float32")
    opts = options(lr=1e-5, lora={"r": 4})
    work = learners.get("ft_think_rl").plan(job, opts)
    exposure = work.expose(job)
    assert exposure.info["rl_steps"] == 2 and len(exposure.artifacts["rl"]) == 2
    assert exposure.info["rl_facts"] == sorted(work.facts)
    ft = models.cache_dir() / "ft" / exposure.info["ft_model"]
    assert weights(Path(exposure.lm.path)) != weights(ft)
