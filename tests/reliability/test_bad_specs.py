"""A corpus of broken specs: each must fail `gankit validate` with exit 1, name the field path, explain the
problem, and print no traceback. Each file states what it expects in `# expect: <path>: <text>` lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "bad_specs"
FILES = sorted(CORPUS.glob("*.toml"))


def expectations(path: Path) -> list[str]:
    found = re.findall(r"^# expect: (.+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert found, f"{path.name} states no '# expect:' line"
    return found


def test_corpus_is_large_enough():
    assert len(FILES) >= 40


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_broken_spec_is_reported_precisely(cli, path, monkeypatch):
    monkeypatch.chdir(CORPUS)  # relative paths in the corpus are relative to it
    result = cli("validate", path.name)
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err
    for expected in expectations(path):
        assert f"{path.name}: {expected}" in result.err, f"missing '{expected}' in:\n{result.err}"


@pytest.mark.parametrize("path", FILES[:5], ids=[p.stem for p in FILES[:5]])
def test_train_refuses_the_same_specs(cli, path, monkeypatch, tmp_path):
    monkeypatch.chdir(CORPUS)
    result = cli("train", path.name, "--out", tmp_path / "run")
    assert result.code == 1 and "Traceback" not in result.err
    assert not (tmp_path / "run").exists(), "nothing may be written for an invalid spec"


def test_unwritable_output_fails_cleanly_at_train_time(cli, write_spec):
    from conftest import tiny_spec

    spec = write_spec(tiny_spec(run={"out_dir": "/proc/gankit-cannot-write-here"}))
    result = cli("train", spec)
    assert result.code == 1 and "Traceback" not in result.err
    assert "run.out_dir: cannot write to /proc/gankit-cannot-write-here" in result.err
