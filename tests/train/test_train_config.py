"""TrainConfig, presets, the command line, and adapter settings that do not fit the model."""

from __future__ import annotations

import pytest
from bayesflight.commands.train import config_from_argv
from bayesflight.train import TrainConfig, parse_lora, with_preset
from bayesflight.train.modeling import decoder_layers, lora_targets, prepare


def _config(*flags: str) -> TrainConfig:
    return config_from_argv(["--data", "d.jsonl", "--out", "o", *flags])


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
    ("max_steps", 0), ("loss_tokens", "all"), ("lr_schedule", "linear")])
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
    # The token cache only saves time: its examples equal fresh ones (test_train_tokencache).
    assert a.differences(TrainConfig(data="d", out="o", token_cache=False)) == []
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


def test_the_parser_is_built_from_the_dataclass_fields():
    # Every TrainConfig field is a flag, under its own name and with hyphens.
    import dataclasses

    from bayesflight.commands.train import build_parser

    flags = {s for a in build_parser()._actions for s in a.option_strings}
    for field in dataclasses.fields(TrainConfig):
        assert f"--{field.name}" in flags
        assert f"--{field.name.replace('_', '-')}" in flags
    assert _config("--batch_size", "3").batch_size == _config("--batch-size", "3").batch_size == 3
    assert not _config("--no-progress").progress and _config("--full", "true").full
    assert _config().token_cache and not _config("--token-cache", "false").token_cache


def test_a_config_file_sets_fields_and_flags_override_it(tmp_path):
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("data: from-file.jsonl\nout: run\nlr: 2e-4\nlora_r: 8\n"
                         "target: soft\nfull: false\n")
    cfg = config_from_argv(["--config", str(yaml_file)])
    # YAML reads 2e-4 as a string; the file's strings are read as the flags read them.
    assert (cfg.data, cfg.out, cfg.lr, cfg.lora_r, cfg.target) == (
        "from-file.jsonl", "run", 2e-4, 8, "soft")
    cfg = config_from_argv(["--config", str(yaml_file), "--lr", "1e-3", "--out", "other"])
    assert (cfg.lr, cfg.out, cfg.lora_r) == (1e-3, "other", 8)
    json_file = tmp_path / "run.json"
    json_file.write_text('{"data": "d.jsonl", "out": "o", "epochs": 3}')
    # The file overrides the preset; the flags override both.
    cfg = config_from_argv(["--preset", "paper-full", "--config", str(json_file),
                            "--max-len", "512"])
    assert cfg.full and cfg.lr == 2e-6 and cfg.epochs == 3 and cfg.max_len == 512


def test_bad_config_files_and_missing_paths_are_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: d\nout: o\ncolour: red\n")
    with pytest.raises(ValueError, match="unknown TrainConfig fields: colour"):
        config_from_argv(["--config", str(bad)])
    bad.write_text("data: d\nout: o\nbatch_size: many\n")
    with pytest.raises(ValueError, match="batch_size"):
        config_from_argv(["--config", str(bad)])
    bad.write_text("- data\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        config_from_argv(["--config", str(bad)])
    with pytest.raises(SystemExit):  # neither flag nor file names the output directory
        config_from_argv(["--data", "d.jsonl"])


def test_a_saved_train_config_is_a_valid_config(tmp_path):
    import json

    cfg = TrainConfig(data="d.jsonl", out="o", lora_r=4, lr=1e-3, max_steps=2, seed=3)
    saved = tmp_path / "train_config.json"
    saved.write_text(json.dumps(cfg.to_dict()))
    assert config_from_argv(["--config", str(saved)]) == cfg
    assert config_from_argv(["--config", str(saved), "--out", "p"]).out == "p"
