import json
import os
import subprocess
import sys

import pytest

from l1lab import cli


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_smoke_one_epoch_on_real_data(capsys, tmp_path):
    out_file = tmp_path / "run.jsonl"
    code, out, err = run_cli(
        capsys, "train", "--numEpochs", "1", "--numSamples", "1000", "--seed", "1", "--out", str(out_file)
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in lines] == ["args", "measure_test"]
    assert lines[0]["args"]["numEpochs"] == 1 and lines[0]["args"]["numSamples"] == 1000
    measure = lines[1]
    assert set(measure) == {"event", "epochAfter", "ent_train", "inacc_train", "ent_test", "inacc_test", "num_nonzero"}
    assert measure["num_nonzero"]["total"]["num"] == 55_050
    assert 0.0 <= measure["inacc_test"] < 0.5  # it learnt something in one epoch
    assert out_file.read_text() == out
    assert "total" in err  # the article's table, on stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--numEpochs", "0"], "must be >= 1"),
        (["--epochs", "-3"], "must be >= 1"),
        (["--numEpochs", "two"], "not an integer"),
        (["--numSamples", "10001"], "over 10000"),
        (["--seed", "-1"], "must be >= 0"),
        (["--learning-rate", "nan"], "finite"),
        (["--pixel-scale", "bytes"], "invalid choice"),
        (["--bogus"], "unrecognized arguments"),
        (["--data-dir", "/nonexistent/l1lab"], "not a directory"),
    ],
)
def test_bad_arguments_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_unwritable_out_exits_2(capsys, tmp_path):
    code, out, err = run_cli(capsys, "train", "--out", str(tmp_path / "missing" / "run.jsonl"))
    assert code == 2 and out == ""
    assert "--out" in err and "missing" in err


def test_unusable_data_dir_exits_2_and_writes_nothing(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    out_file = tmp_path / "run.jsonl"
    code, out, err = run_cli(
        capsys, "train", "--data-dir", str(tmp_path / "empty"), "--out", str(out_file)
    )
    assert code == 2 and out == ""
    assert "neither the four MNIST IDX files" in err
    assert os.listdir(tmp_path) == ["empty"]  # no --out file, no temporary left


def test_no_command_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2


def test_console_script_help_is_cheap_and_lists_article_flags():
    result = subprocess.run(
        [sys.executable, "-m", "l1lab", "train", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for flag in ("--numEpochs", "--numSamples", "--seed", "--out", "--data-dir", "--pixel-scale", "--quiet"):
        assert flag in result.stdout


def test_progress_only_on_a_terminal():
    class Stream:
        def __init__(self, tty):
            self.tty, self.text = tty, ""

        def isatty(self):
            return self.tty

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    event = {"inacc_test": 0.1, "num_nonzero": {"total": {"num": 10, "numNz": 5}}}
    for tty in (True, False):
        stream = Stream(tty)
        progress = cli.EpochProgress(2, stream=stream)
        progress.update(1, event)
        progress.update(2, event)
        assert ("epoch 2/2" in stream.text and "sparsity 50.00%" in stream.text) is tty
    quiet = Stream(True)
    cli.EpochProgress(2, stream=quiet, enabled=False).update(1, event)
    assert quiet.text == ""
