import io
import json
import math

from l1lab import events

COUNTS = {"dense_1/kernel": {"num": 4, "numNz": 1}, "total": {"num": 4, "numNz": 1}}


def test_args_event_schema():
    event = events.args_event({"numEpochs": 2}, started=1613100000.7)
    assert list(event) == ["event", "args", "secStarted", "timeStarted"]
    assert event["event"] == "args" and event["args"] == {"numEpochs": 2}
    assert event["secStarted"] == 1613100000
    assert isinstance(event["timeStarted"], str) and "2021" in event["timeStarted"]


def test_measure_event_schema_is_the_articles():
    event = events.measure_event(3, ent_train=0.5, inacc_train=0.1, ent_test=0.6, inacc_test=0.2, num_nonzero=COUNTS)
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


def test_event_writer_writes_stream_and_file(tmp_path):
    stream = io.StringIO()
    with events.EventWriter(stream, tmp_path / "e.jsonl") as writer:
        writer.write({"event": "args"})
        writer.write({"event": "measure_test"})
    assert stream.getvalue() == (tmp_path / "e.jsonl").read_text()
    assert events.read_events(stream.getvalue().splitlines()) == [{"event": "args"}, {"event": "measure_test"}]
