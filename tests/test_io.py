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


def test_a_device_is_written_through_never_replaced():
    with _io.AtomicTextFile("/dev/null") as f:
        f.write("anything\n")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")  # still the device


def test_a_symlink_stays_a_link_and_its_target_is_written(tmp_path):
    target, link = tmp_path / "target.jsonl", tmp_path / "link.jsonl"
    target.write_text("old\n")
    link.symlink_to(target)
    with _io.AtomicTextFile(link) as f:
        f.write("new\n")
    assert link.is_symlink() and target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl", "target.jsonl"]


def test_a_fifo_is_written_through(tmp_path):
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo).read()))  # noqa: SIM115
    reader.start()
    with _io.AtomicTextFile(fifo) as f:
        f.write("line\n")
    reader.join(timeout=10)
    assert received == ["line\n"] and not fifo.is_file()
