"""l1lab train: arguments, methods, outputs, exit codes."""

import json
import os
import subprocess
import sys

import pytest

from l1lab import cli
from l1lab.cli import train as train_cli
from tests.cli.helpers import run_cli


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
        (["--seed", "-1"], "argument --seed: -1 must be >= 0"),
        (["--seed", "4294967296"], "argument --seed: 4294967296 must be <= 4294967295"),
        (["--batch-size", "99999999999999999999"], "argument --batch-size: 99999999999999999999 must be <= 2147483647"),
        (["--shuffle-buffer", "99999999999999999999"], "argument --shuffle-buffer: 99999999999999999999 must be <="),
        (["--epochs", "2147483648"], "argument --epochs/--numEpochs: 2147483648 must be <="),
        (["--learning-rate", "nan"], "finite"),
        (["--pixel-scale", "bytes"], "invalid choice"),
        (["--bogus"], "unrecognized arguments"),
        (["--data-dir", "/nonexistent/l1lab"], "not a directory"),
        (["--finetune-epochs", "-1"], "argument --finetune-epochs: -1 must be >= 0"),
        (["--target-sparsity", "90"], "argument --target-sparsity: `target_sparsity` needs to be a fraction"),
        (["--target-multiply-adds", "0"], "argument --target-multiply-adds: 0 must be >= 1"),
        (["--target-multiply-adds", "1e4"], "argument --target-multiply-adds: '1e4' is not an integer"),
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
    code, out, err = run_cli(capsys, "train", "--data-dir", str(tmp_path / "empty"), "--out", str(out_file))
    assert code == 2 and out == ""
    assert "neither the four MNIST IDX files" in err
    assert os.listdir(tmp_path) == ["empty"]  # no --out file, no temporary left


def test_no_command_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2


def test_parsing_and_help_import_no_tensorflow():
    code = (
        "import sys\n"
        "from l1lab.cli import build_parser\n"
        "args = build_parser().parse_args(['train', '--regL1Try3', '0.001', '--epochs', '3'])\n"
        "assert args.epochs == 3\n"
        "try:\n"
        "    build_parser().parse_args(['train', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False False"


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
        progress = train_cli.EpochProgress(2, stream=stream)
        progress.update(1, event)
        progress.update(2, event)
        assert ("epoch 2/2" in stream.text and "sparsity 50.00%" in stream.text) is tty
    quiet = Stream(True)
    train_cli.EpochProgress(2, stream=quiet, enabled=False).update(1, event)
    assert quiet.text == ""


def test_method_names_match_the_registry():
    from l1lab import methods

    assert sorted(train_cli.METHOD_NAMES) == sorted(methods.METHODS)
    assert {m for m, _ in train_cli.ARTICLE_FLAGS.values()} <= set(methods.METHODS)


CLI_METHODS = [
    (["--method", "sgd"], "sgd", False),
    (["--regL1Try1", "0.0001"], "l1-regularizer", False),
    (["--regL1Try2", "0.001"], "proximal-adagrad-tf", False),
    (["--regL1Try3", "0.001"], "proximal-adagrad-tf", True),
    (["--regL1Alt", "0.01"], "proximal-sgd", False),
    (["--method", "proximal-sgd", "--l1", "0.01", "--l1-layer", "dense_1=0.02"], "proximal-sgd", False),
    (["--method", "proximal-adagrad", "--l1", "0.001"], "proximal-adagrad", False),
    (["--method", "ftrl", "--l1", "0.001"], "ftrl", False),
    (["--method", "l1-regularizer", "--l1", "0.0001", "--l1-all-kernels"], "l1-regularizer", False),
    (
        ["--method", "proximal-sgd", "--l1", "0.01", "--group-l1", "0.001", "--group-inputs", "dense_1=0.002"],
        "proximal-sgd",
        False,
    ),
]


@pytest.mark.parametrize(
    "argv, method, hidden",
    CLI_METHODS,
    ids=[" ".join(a[:2]) + (" ..." if len(a) > 2 else "") for a, _, _ in CLI_METHODS],
)
def test_each_method_runs_one_epoch(capsys, argv, method, hidden):
    code, out, err = run_cli(capsys, "train", "--numEpochs", "2", "--numSamples", "200", "--quiet", *argv)
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    args = events[0]["args"]
    assert args["method"] == method and args["hideGpus"] is hidden
    assert args["groupInputs"] == ({"dense_1": 0.002} if "--group-inputs" in argv else {})
    assert args["split"] == "article"
    assert args["articleFlag"] == (argv[0][2:] if argv[0].startswith("--regL1") else None)
    assert [e["event"] for e in events] == ["args", "measure_test", "measure_test"]
    zeros = [e["num_nonzero"]["total"]["num"] - e["num_nonzero"]["total"]["numNz"] for e in events[1:]]
    if method.startswith("proximal"):
        assert zeros[0] > 100 and zeros[1] >= zeros[0]  # exact zeros, growing


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--regL1Try1", "1e-4", "--regL1Try3", "1e-3"], "choose one method"),
        (["--method", "sgd", "--regL1Alt", "1e-3"], "drop --method"),
        (["--regL1Try2", "1e-3", "--l1", "1e-3"], "drop --method/--l1"),
        (["--method", "sgd", "--l1", "1e-3"], "takes no L1 strength"),
        (["--method", "ftrl", "--l1", "1e-3", "--l1-layer", "dense_1=1e-3"], "one L1 strength"),
        (["--method", "proximal-sgd", "--l1-layer", "dense_7=1e-3"], "unknown layers"),
        (["--method", "sgd", "--group-l1", "1e-3"], "takes no group strengths"),
        (["--method", "sgd", "--initial-accumulator", "0.1"], "--initial-accumulator"),
        (["--method", "sgd", "--l1-exclude-biases"], "--l1-exclude-biases"),
        (["--regL1Alt", "1e-3", "--l1-all-kernels"], "--l1-all-kernels"),
        (["--method", "proximal-sgd", "--group-units", "predictions=1e-3"], "the model's outputs"),
        (["--regL1Alt", "1e-3", "--finetune-epochs", "2"], "--finetune-epochs 2 is not less than --epochs 1"),
        (["--regL1Alt", "1e-3", "--finetune-epochs", "1"], "--finetune-epochs 1 is not less than --epochs 1"),
        (
            ["--regL1Alt", "1e-3", "--target-sparsity", "0.9"],
            "1 <= --finetune-epochs < epochs. Received: --finetune-epochs 0, --epochs 1",
        ),
        (
            ["--regL1Alt", "1e-3", "--target-multiply-adds", "5000"],
            "1 <= --finetune-epochs < epochs. Received: --finetune-epochs 0, --epochs 1",
        ),
        (["--regL1Alt", "1e-3", "--unit-multiple", "16"], "set --target-multiply-adds too"),
        (
            ["--regL1Alt", "1e-3", "--numEpochs", "2", "--finetune-epochs", "1", "--target-multiply-adds", "11"],
            "--target-multiply-adds needs to be at least 12, the cost of the smallest model that compaction leaves "
            "(one input, 1 unit(s) per hidden layer, one per class). Received: --target-multiply-adds 11",
        ),
        (
            ["--regL1Alt", "1e-3", "--numEpochs", "2", "--finetune-epochs", "1", "--target-multiply-adds", "431"]
            + ["--unit-multiple", "16"],
            "at least 432, the cost of the smallest model that compaction leaves (one input, 16 unit(s)",
        ),
        (
            ["--regL1Alt", "1e-3", "--numEpochs", "2", "--finetune-epochs", "1", "--target-multiply-adds", "9000"]
            + ["--unit-multiple", "1000"],
            "--unit-multiple needs to be at most the narrowest hidden layer's 64 units. Received: --unit-multiple 1000",
        ),
    ],
)
def test_conflicting_or_impossible_methods_exit_2(capsys, argv, message):
    code, out, err = run_cli(capsys, "train", "--numSamples", "10", "--numEpochs", "1", *argv)
    assert code == 2 and out == ""
    assert message in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--regL1Try3", "-0.001"], "finite and >= 0"),
        (["--l1", "nan", "--method", "proximal-sgd"], "finite and >= 0"),
        (["--regL1Alt", "inf"], "finite and >= 0"),
        (["--l1-layer", "dense_1"], "LAYER=STRENGTH"),
        (["--method", "adamw"], "invalid choice"),
    ],
)
def test_bad_strengths_exit_2_at_parse_time(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`l1lab train | head -1`: no traceback, no --out file half-written."""
    out = tmp_path / "run.jsonl"
    command = (
        f"{sys.executable} -m l1lab train --numEpochs 3 --numSamples 200 --quiet --out {out} | head -1; "
        "echo status=${PIPESTATUS[0]}"
    )
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300)
    lines = result.stdout.splitlines()
    assert json.loads(lines[0])["event"] == "args" and lines[-1] == "status=141"
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_sigterm_leaves_no_temporary_file(tmp_path):
    import signal
    import time

    out = tmp_path / "run.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "l1lab",
            "train",
            "--numEpochs",
            "50",
            "--numSamples",
            "500",
            "--quiet",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert json.loads(process.stdout.readline())["event"] == "args"  # training has started
    time.sleep(1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []  # no .run.jsonl.*.tmp, no run.jsonl


def test_a_full_disk_ends_with_a_message_not_a_traceback(capsys, tmp_path, monkeypatch):
    import errno

    from l1lab import _io

    def full(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_io.AtomicTextFile, "write", full)
    code, out, err = run_cli(
        capsys, "train", "--numEpochs", "1", "--numSamples", "100", "--quiet", "--out", str(tmp_path / "run.jsonl")
    )
    assert code == 1 and "No space left on device" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_standard_split_from_the_command_line(capsys):
    code, out, err = run_cli(
        capsys, "train", "--split", "standard", "--numEpochs", "1", "--numSamples", "300", "--quiet"
    )
    assert code == 0, err
    args = json.loads(out.splitlines()[0])["args"]
    assert args["split"] == "standard" and args["numSamples"] == 300


def test_finetuning_from_the_command_line(capsys):
    code, out, err = run_cli(
        capsys, "train", "--regL1Alt", "1e-3", "--learning-rate", "0.05", "--pixel-scale", "unit",
        "--numEpochs", "2", "--finetune-epochs", "1", "--numSamples", "300", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["args"]["finetuneEpochs"] == 1
    zeros = [e["num_nonzero"]["total"]["num"] - e["num_nonzero"]["total"]["numNz"] for e in events[1:]]
    assert zeros[0] > 0 and zeros[1] >= zeros[0]  # the first epoch's zeros are held


def test_a_multiply_add_budget_from_the_command_line(capsys):
    code, out, err = run_cli(
        capsys, "train", "--regL1Alt", "1e-4", "--learning-rate", "0.05", "--pixel-scale", "unit",
        "--numEpochs", "3", "--finetune-epochs", "2", "--target-multiply-adds", "5000", "--numSamples", "300",
        "--quiet",
    )  # fmt: skip
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["args"]["targetMultiplyAdds"] == 5000
    assert "removedByBudget" not in events[1]
    assert events[-1]["removedByBudget"]["multiplyAdds"] <= 5000 < 784 * 64
