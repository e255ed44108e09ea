"""l1lab._io: atomic files, tables, reviewable JSON."""

import json
import os

import pytest

from l1lab import _io


def test_atomic_file_appears_only_on_commit(tmp_path):
    target = tmp_path / "out.jsonl"
    with _io.AtomicTextFile(target) as f:
        f.write("one\n")
        assert not target.exists()
    assert target.read_text() == "one\n"
    assert os.listdir(tmp_path) == ["out.jsonl"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600


def test_atomic_file_is_removed_on_error(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("previous run\n")
    with pytest.raises(RuntimeError), _io.AtomicTextFile(target) as f:
        f.write("half")
        raise RuntimeError("training crashed")
    assert target.read_text() == "previous run\n"  # the old file is untouched
    assert os.listdir(tmp_path) == ["out.jsonl"]


@pytest.mark.parametrize("where", ["missing-dir", "directory"])
def test_unwritable_destination_fails_before_any_work(tmp_path, where):
    path = tmp_path / "absent" / "out.jsonl" if where == "missing-dir" else tmp_path
    with pytest.raises(_io.OutputError, match=str(path)):
        _io.AtomicTextFile(path)


def test_json_written_atomically_refuses_nan(tmp_path):
    target = tmp_path / "report.json"
    with pytest.raises(ValueError):
        _io.write_json_atomically(target, {"median": float("nan")})
    assert os.listdir(tmp_path) == []  # nothing half-written, no temporary left
    _io.write_json_atomically(target, {"median": 0.5})
    assert json.loads(target.read_text()) == {"median": 0.5}


def test_reviewable_json_sorts_keys_and_keeps_lists_on_one_line():
    text = _io.reviewable_json({"b": [0.1, 0.2], "a": {1: [3], 0: [2]}})
    assert text.splitlines() == ["{", ' "a": {', '  "0": [2],', '  "1": [3]', " },", ' "b": [0.1, 0.2]', "}"]
    assert json.loads(text) == {"a": {"0": [2], "1": [3]}, "b": [0.1, 0.2]}
    with pytest.raises(ValueError):
        _io.reviewable_json({"x": [float("inf")]})


def test_format_table_aligns_columns():
    table = _io.format_table([["dense_1/kernel", "5"], ["total", "12"]], ["variable", "numNz"], align="lr")
    assert table.splitlines() == [
        "variable        numNz",
        "--------------  -----",
        "dense_1/kernel      5",
        "total              12",
    ]
