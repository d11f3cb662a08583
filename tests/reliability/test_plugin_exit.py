"""A plugin that calls ``sys.exit()`` (at import or inside its hook) is one failed plugin, not a dead CLI."""

from __future__ import annotations

import json
import types

import pytest
from plugin_site import ROOT, add_dist, run_gankit

from gankit.plugins import load_registry

EXIT_AT_IMPORT = "import sys\nsys.exit(0)\n"
EXIT_IN_HOOK = """
import sys
from gankit.hookspecs import hookimpl


@hookimpl
def register_divergences(register):
    sys.exit("bye")
"""


@pytest.mark.parametrize("code", [EXIT_AT_IMPORT, EXIT_IN_HOOK], ids=["at-import", "in-hook"])
def test_sys_exit_in_a_plugin_marks_it_failed_and_commands_keep_working(tmp_path, code):
    site = add_dist(tmp_path / "site", "gankit-test-exits", "gankit_test_exits", code)
    listed = run_gankit(site, "list-plugins", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rows = [r for r in json.loads(listed.stdout) if r["distribution"] == "gankit-test-exits"]
    assert len(rows) == 1 and rows[0]["status"].startswith("failed:") and "SystemExit" in rows[0]["status"]
    valid = run_gankit(site, "validate", str(ROOT / "specs" / "quickstart.toml"))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "1 valid, 0 invalid" in valid.stdout


def test_keyboard_interrupt_in_a_plugin_still_interrupts():
    module = types.ModuleType("gankit_test_ctrl_c")

    def register_divergences(register):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    from gankit.hookspecs import hookimpl

    module.register_divergences = hookimpl(register_divergences)  # type: ignore[attr-defined]
    with pytest.raises(KeyboardInterrupt):
        load_registry(extra=[(module, "gankit-test-ctrl-c", "1.0")])
