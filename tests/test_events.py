import io
import json
import math
import os

import pytest

from l1lab import events

COUNTS = {"dense_1/kernel": {"num": 4, "numNz": 1}, "total": {"num": 4, "numNz": 1}}


def test_args_event_schema():
    event = events.args_event({"numEpochs": 2}, started=1613100000.7)
    assert list(event) == ["event", "args", "secStarted", "timeStarted"]
    assert event["event"] == "args" and event["args"] == {"numEpochs": 2}
    assert event["secStarted"] == 1613100000
    assert isinstance(event["timeStarted"], str) and "2021" in event["timeStarted"]


def test_measure_event_schema_is_the_articles():
    event = events.measure_event(
        3, ent_train=0.5, inacc_train=0.1, ent_test=0.6, inacc_test=0.2, num_nonzero=COUNTS
    )
    assert list(event) == ["event", *events.MEASURE_KEYS]
    assert event["event"] == "measure_test" and event["epochAfter"] == 3
    assert json.loads(events.dumps(event)) == event


def test_non_finite_metrics_become_null():
    event = events.measure_event(
        0, ent_train=math.nan, inacc_train=0.5, ent_test=math.inf, inacc_test=0.5, num_nonzero=COUNTS
    )
    line = events.dumps(event)
    assert json.loads(line)["ent_train"] is None and json.loads(line)["ent_test"] is None


def test_read_events_skips_blank_lines():
    assert events.read_events(['{"event": "args"}\n', "\n", '{"event": "x"}']) == [
        {"event": "args"},
        {"event": "x"},
    ]


def test_atomic_file_appears_only_on_commit(tmp_path):
    target = tmp_path / "out.jsonl"
    with events.AtomicTextFile(target) as f:
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
    with pytest.raises(RuntimeError):
        with events.AtomicTextFile(target) as f:
            f.write("half")
            raise RuntimeError("training crashed")
    assert target.read_text() == "previous run\n"  # the old file is untouched
    assert os.listdir(tmp_path) == ["out.jsonl"]


@pytest.mark.parametrize("where", ["missing-dir", "directory"])
def test_unwritable_destination_fails_before_any_work(tmp_path, where):
    path = tmp_path / "absent" / "out.jsonl" if where == "missing-dir" else tmp_path
    with pytest.raises(events.OutputError, match=str(path)):
        events.AtomicTextFile(path)


def test_event_writer_writes_stream_and_file(tmp_path):
    stream = io.StringIO()
    with events.EventWriter(stream, tmp_path / "e.jsonl") as writer:
        writer.write({"event": "args"})
        writer.write({"event": "measure_test"})
    assert stream.getvalue() == (tmp_path / "e.jsonl").read_text()
    assert events.read_events(stream.getvalue().splitlines()) == [{"event": "args"}, {"event": "measure_test"}]
