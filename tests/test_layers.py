"""The import contract in pyproject.toml holds, and would catch a violation."""
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

LINT = str(Path(sys.executable).with_name("lint-imports"))


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--config", str(root / "pyproject.toml")], cwd=root, capture_output=True,
                          text=True, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_layers_contract_is_kept():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_a_core_module_importing_a_runtime_breaks_the_contract(tmp_path):
    for package in ("mossnet", "quantize", "targets"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "mossnet" / "core" / "tiling.py", "a") as f:
        f.write("\nfrom targets import registry  # planted\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "mossnet.core.tiling -> targets.registry" in result.stdout
