"""The layering, as import-linter contracts in pyproject.toml: storage imports no chat platform
and nothing above it; scheduling imports no Slack package. A broken contract fails here with
import-linter's report (which import, on which line)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def test_the_import_contracts_hold():
    result = subprocess.run([sys.executable, "-c", LINT, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    report = result.stdout + result.stderr
    assert "No module named" not in report, "install the test extra: pip install -e '.[test]'\n" + report
    assert result.returncode == 0, report
    assert "0 broken" in report, report


def test_the_core_loads_without_any_slack_package():
    """What a Teams-only front would import: every action, every scheduled job, the ledger.

    Run in a fresh interpreter, so what this test process already loaded cannot hide an import.
    """
    probe = (
        "import importlib, pkgutil, sys\n"
        "import handlers.core, scheduling, storage.views\n"
        "for pkg in (handlers.core, scheduling, storage.views):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(f'{pkg.__name__}.{m.name}')\n"
        "loaded = sorted(n for n in sys.modules if n.split('.')[0] in ('slack_sdk', 'slack_bolt'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"the core loaded Slack packages: {result.stdout}"
