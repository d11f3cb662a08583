"""CLI behaviour: exit codes, output formats, no torch import for the fast commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, tiny_spec


@pytest.mark.parametrize(
    "args",
    [["--help"], ["list-plugins"], ["validate", str(ROOT / "specs")], ["schema"], ["train", "--help"]],
)
def test_fast_commands_do_not_import_torch(args):
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['gankit', *{args!r}]\n"
        "try:\n    runpy.run_module('gankit', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_validate_exit_codes_and_text_format(cli, write_spec):
    good = write_spec(tiny_spec(), "good.toml")
    bad = write_spec(tiny_spec(divergence={"name": "ganqp", "params": {}}), "bad.toml")
    ok = cli("validate", good)
    assert ok.code == 0 and "1 valid, 0 invalid" in ok.out
    both = cli("validate", good, bad)
    assert both.code == 1
    assert f"{bad}: divergence.name: unknown divergence 'ganqp'; did you mean 'gan-qp'?" in both.err
    assert cli("validate", good.parent / "missing.toml").code == 2
    assert cli("validate").code == 2


def test_validate_github_and_json_formats(cli, write_spec):
    bad = write_spec(tiny_spec(run={"steps": 0}), "bad.toml")
    gh = cli("validate", "--format", "github", bad)
    assert gh.code == 1
    assert f"::error file={bad},title=gankit validate::run.steps: input should be greater than 0 (got 0)" in gh.out
    js = cli("validate", "--format", "json", bad)
    (entry,) = json.loads(js.out)
    assert entry["valid"] is False and entry["errors"][0]["path"] == "run.steps"


def test_validate_a_folder_and_set(cli, write_spec):
    spec = write_spec(tiny_spec(), "a.toml")
    assert cli("validate", spec.parent).code == 0
    result = cli("validate", spec, "--set", "divergence.params.lam=0")
    assert result.code == 1 and "divergence.params.lam" in result.err


def test_user_errors_have_no_traceback_unless_debug(cli, write_spec):
    spec = write_spec("[run\n")
    result = cli("train", spec)
    assert result.code == 1
    assert result.err.startswith(f"error: {spec}: invalid TOML at line 1") and "Traceback" not in result.err


def test_list_plugins_kind_filter_and_bad_kind(cli):
    result = cli("list-plugins", "--kind", "divergence", "--json")
    kinds = {row["kind"] for row in json.loads(result.out)}
    assert result.code == 0 and kinds == {"divergence"}
    wrong = cli("list-plugins", "--kind", "divergences")
    assert wrong.code == 2 and "did you mean 'divergence'?" in wrong.err


def test_schema_to_file(cli, tmp_path):
    out = tmp_path / "schema.json"
    assert cli("schema", "-o", out).code == 0
    schema = json.loads(out.read_text())
    assert set(schema["properties"]) == {"run", "data", "generator", "critic", "divergence", "metrics", "augment"}
    assert schema["properties"]["run"]["$ref"].endswith("RunConfig")
