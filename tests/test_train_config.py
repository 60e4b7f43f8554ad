"""TrainConfig, presets, the command line, and adapter settings that do not fit the model."""

from __future__ import annotations

import pytest
from bayesflight.cli import build_parser
from bayesflight.commands.train import config_from_args
from bayesflight.train import TrainConfig, parse_lora, with_preset
from bayesflight.train.modeling import decoder_layers, lora_targets, prepare


def _config(*flags: str) -> TrainConfig:
    return config_from_args(build_parser().parse_args(
        ["train", "--data", "d.jsonl", "--out", "o", *flags]))


def test_defaults_are_lora_on_all_linear_layers_with_hard_targets():
    cfg = _config()
    assert (cfg.full, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout) == (False, 16, 32.0, 0.05)
    assert (cfg.model, cfg.target, cfg.loss_tokens, cfg.learning_rate) == (
        "smollm2-135m", "hard", "assistant", 2e-4)


def test_the_paper_preset_and_explicit_flags_on_top():
    cfg = _config("--preset", "paper-full")
    assert cfg.full and cfg.learning_rate == 2e-6 and cfg.global_batch == 128
    assert (cfg.epochs, cfg.max_len, cfg.warmup_ratio) == (1, 2048, 0.1)
    assert cfg.accumulation(1) == 16 and cfg.accumulation(4) == 4
    cfg = _config("--preset", "paper-full", "--lr", "1e-5", "--lora", "r=8")
    assert not cfg.full and cfg.learning_rate == 1e-5 and cfg.lora_r == 8
    with pytest.raises(ValueError, match="multiple of batch_size x processes"):
        cfg.accumulation(3)


def test_command_line_flags_reach_the_config():
    cfg = _config("--lora", "r=4,alpha=8,dropout=0", "--lora-layers", "2", "--target", "soft",
                  "--soft-weight", "0.5", "--loss-tokens", "digit", "--max-steps", "7",
                  "--gradient-checkpointing", "--dtype", "bf16", "--checkpoint-every", "3")
    assert (cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_layers) == (4, 8.0, 0.0, 2)
    assert (cfg.target, cfg.soft_weight, cfg.loss_tokens, cfg.max_steps) == (
        "soft", 0.5, "digit", 7)
    assert cfg.gradient_checkpointing and cfg.dtype == "bf16" and cfg.checkpoint_every == 3
    with pytest.raises(SystemExit):
        _config("--lora", "r=4", "--full")


@pytest.mark.parametrize(("spec", "message"), [
    ("rank=4", "r=INT"), ("r=four", "r must be int"), ("alpha", "r=INT")])
def test_bad_lora_specs_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_lora(spec)


@pytest.mark.parametrize(("field", "value"), [
    ("batch_size", 0), ("lora_r", 2.5), ("soft_weight", 1.5), ("target", "medium"),
    ("lora_dropout", 1.0), ("dtype", "fp16"), ("warmup_ratio", -0.1), ("seed", -1),
    ("max_steps", 0), ("loss_tokens", "all")])
def test_bad_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(data="d", out="o", **{field: value})


def test_unknown_preset_and_lora_layers_with_full_are_refused():
    with pytest.raises(ValueError, match="preset must be one of"):
        with_preset("paper-lora", data="d", out="o")
    with pytest.raises(ValueError, match="lora_layers"):
        TrainConfig(data="d", out="o", full=True, lora_layers=2)
    with pytest.raises(ValueError, match="unknown TrainConfig fields: colour"):
        TrainConfig.from_dict({"data": "d", "out": "o", "colour": "red"})


def test_resume_compares_the_settings_that_change_the_result():
    a = TrainConfig(data="d", out="o")
    assert a.differences(TrainConfig(data="d", out="o", resume=True, device="cpu")) == []
    # Paths may move; the trainer compares the data file's content instead.
    assert a.differences(TrainConfig(data="moved/d", out="moved/o")) == []
    assert a.differences(TrainConfig(data="d", out="o", lr=1e-3)) == ["lr: None != 0.001"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny_models import make_tiny_model
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        make_tiny_model(tmp_path_factory.mktemp("tiny"), n_layers=3))


def test_lora_on_the_top_layers_adapts_only_their_linear_layers(tiny):
    names = lora_targets(tiny, 1)
    assert names == [f"model.layers.2.{n}" for n in (
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")]
    assert lora_targets(tiny, None) == "all-linear"


def test_adapters_that_do_not_fit_the_model_are_refused(tiny):
    with pytest.raises(ValueError, match="lora_layers=4 but the model has 3 decoder layers"):
        prepare(tiny, TrainConfig(data="d", out="o", lora_layers=4))
    with pytest.raises(ValueError, match=r"lora r=64 exceeds the smallest dimension \(32\)"):
        prepare(tiny, TrainConfig(data="d", out="o", lora_r=64))


def test_gradient_checkpointing_reaches_the_decoder_layers(tiny):
    prepare(tiny, TrainConfig(data="d", out="o", full=True, gradient_checkpointing=True))
    _, layers = decoder_layers(tiny)
    assert all(layer.gradient_checkpointing for layer in layers)
