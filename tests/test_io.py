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


def _write_bytes(data: bytes):
    return lambda tmp: tmp.write_bytes(data)


def test_write_atomically_writes_a_links_target_and_keeps_the_link(tmp_path):
    target, link = tmp_path / "model.keras", tmp_path / "latest.keras"
    target.write_bytes(b"old")
    link.symlink_to(target)
    _io.write_atomically(link, _write_bytes(b"new"))
    assert link.is_symlink() and target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.keras", "model.keras"]  # no temporary


def test_write_atomically_through_a_dangling_link_creates_its_target(tmp_path):
    link = tmp_path / "latest.keras"
    link.symlink_to(tmp_path / "made.keras")
    _io.write_atomically(link, _write_bytes(b"new"))
    assert link.is_symlink() and (tmp_path / "made.keras").read_bytes() == b"new"


def test_write_atomically_writes_through_a_fifo_and_a_device(tmp_path):
    import threading

    fifo = tmp_path / "pipe.keras"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()))  # noqa: SIM115
    reader.start()
    _io.write_atomically(fifo, _write_bytes(b"model bytes"))
    reader.join(timeout=10)
    assert received == [b"model bytes"] and not fifo.is_file()
    _io.write_atomically("/dev/null", _write_bytes(b"x"))
    assert not os.path.isfile("/dev/null")


def test_write_atomically_leaves_nothing_when_the_writer_fails(tmp_path):
    def broken(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        _io.write_atomically(tmp_path / "model.keras", broken)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "name, message",
    [
        ("folder", "is a directory"),
        ("missing/model.keras", "is not a directory"),
        (".keras", "needs to end in .keras with a name before it"),
        ("model.h5", "needs to end in .keras"),
    ],
)
def test_check_output_file_refuses_what_cannot_be_written(tmp_path, name, message):
    (tmp_path / "folder").mkdir()
    with pytest.raises(_io.OutputError, match=message):
        _io.check_output_file(tmp_path / name, suffix=".keras" if name != "folder" else "")


def test_check_output_file_follows_a_link_to_a_directory(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "link.keras").symlink_to(tmp_path / "folder")
    with pytest.raises(_io.OutputError, match="is a directory"):
        _io.check_output_file(tmp_path / "link.keras", suffix=".keras")


def test_refuse_clashes_names_both_outputs(tmp_path):
    a = tmp_path / "a.keras"
    a.write_bytes(b"")
    (tmp_path / "link").symlink_to(a)
    os.link(a, tmp_path / "hard")
    for other in (str(a), str(tmp_path / "." / "a.keras"), str(tmp_path / "link"), str(tmp_path / "hard")):
        with pytest.raises(_io.OutputError, match="--out and --save-model name one file"):
            _io.refuse_clashes({"--out": other, "--save-model": str(a)})
    _io.refuse_clashes({"--out": str(tmp_path / "b.jsonl"), "--save-model": str(a), "--unset": None})


def test_refuse_clashes_refuses_an_output_that_replaces_an_input(tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"")
    with pytest.raises(_io.OutputError, match="--out would replace MODEL"):
        _io.refuse_clashes({"--out": str(model)}, {"MODEL": str(model)})
