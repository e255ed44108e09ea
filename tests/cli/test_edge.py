"""l1lab train --save-model and l1lab compact."""

import json
import os

import pytest

from l1lab import cli
from l1lab._compat import TF_VERSION, keras
from tests.cli.helpers import run_cli


@pytest.fixture(scope="module")
def sparse_model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "sparse.keras"
    argv = ["train", "--method", "proximal-sgd", "--pixel-scale", "unit", "--learning-rate", "0.05", "--l1", "0.02"]
    argv += ["--group-l1", "2e-3", "--numEpochs", "2", "--numSamples", "1000", "--quiet", "--save-model", str(path)]
    assert cli.main(argv) == 0
    return path


def test_train_saves_the_model_atomically(sparse_model_file):
    assert [p.name for p in sparse_model_file.parent.iterdir()] == ["sparse.keras"]  # no temporary left
    model = keras.models.load_model(sparse_model_file)
    assert (model.get_layer("dense_1").kernel.numpy() == 0).mean() > 0.5  # the trained, sparse weights


def test_compact_writes_a_smaller_model_with_the_same_outputs(capsys, sparse_model_file, tmp_path):
    out = tmp_path / "small.keras"
    code, stdout, err = run_cli(
        capsys, "compact", str(sparse_model_file), "--out", str(out), "--pixel-scale", "unit", "--json"
    )
    assert code == 0, err
    report = json.loads(stdout)
    assert report["check"]["equal"] and report["check"]["examples"] == 10_000
    assert report["multiply_adds_after"] < report["multiply_adds_before"]
    assert report["kept_inputs"] < 784  # MNIST's border pixels are never read after group lasso
    small = keras.models.load_model(out)
    assert small.outputs[0].shape[-1] == 10 and small.inputs[0].shape[-1] == 784


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compact", "missing.keras", "--out", "small.keras"], "is not a file"),
        (["compact", "model.h5", "--out", "small.txt"], "needs to end in .keras"),
    ],
)
def test_compact_usage_errors(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    try:
        code, _, err = run_cli(capsys, *argv)
    except SystemExit as exc:
        code, err = exc.code, capsys.readouterr().err
    assert code == 2 and message in err


def test_compact_refuses_another_layer_type_naming_it(capsys, tmp_path):
    inputs = keras.Input(shape=(784,))
    x = keras.layers.Dense(4, name="dense_1")(inputs)
    x = keras.layers.Flatten()(keras.layers.Reshape((2, 2), name="norm")(x))
    path = tmp_path / "other.keras"
    keras.Model(inputs, keras.layers.Dense(10, name="predictions")(x)).save(path)
    code, out, err = run_cli(capsys, "compact", str(path), "--out", str(tmp_path / "small.keras"))
    assert code == 2 and "'norm' (Reshape): no handler" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.keras"]  # nothing written


def test_export_writes_checked_tflite_files_and_a_report(capsys, sparse_model_file, tmp_path):
    out_dir = tmp_path / "tflite"
    code, stdout, err = run_cli(
        capsys, "export", str(sparse_model_file), "--out-dir", str(out_dir), "--pixel-scale", "unit",
        "--format", "float", "--format", "int8-sparse", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(stdout)
    assert report == json.loads((out_dir / "export.json").read_text())
    files = {(r["model"], r["format"]): r for r in report["files"]}
    assert set(files) == {(m, f) for m in ("dense-784-64-64-10", "sparse") for f in ("float", "int8-sparse")}
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        ["export.json", *(f"{m}.{f}.tflite" for m, f in files)]
    )  # every file agreed, so every file is there, and no temporary file
    for row in report["files"]:
        assert row["check"]["agrees"] and row["check"]["examples"] == 10_000
        assert row["size_bytes"] == (out_dir / f"{row['model']}.{row['format']}.tflite").stat().st_size
        assert row["latency"]["median_us"] > 0 and len(row["latency"]["rounds_us"]) == 5
    base = files["dense-784-64-64-10", "float"]
    assert base["times_smaller"] == 1.0 and base["times_faster"] == 1.0
    sparse = files["sparse", "int8-sparse"]
    assert sparse["times_smaller"] == pytest.approx(base["size_bytes"] / sparse["size_bytes"])
    assert sparse["times_smaller"] > 4  # int8 and sparse storage of a mostly-zero model


def test_export_does_not_write_a_file_that_disagrees(capsys, sparse_model_file, tmp_path, monkeypatch):
    """A file that disagrees is not written and fails the command; the reference's files are the ratios'
    base (the default reference is untrained): reported, not failing."""
    from l1lab.edge import export

    real_judge = export.judge

    def broken_int8(fmt, want, got, labels=None, **kwargs):
        result = real_judge(fmt, want, got, labels, **kwargs)
        return result if fmt != "int8" else export.OutputCheck(**{**result.as_dict(), "agrees": False})

    monkeypatch.setattr(export, "judge", broken_int8)
    out_dir = tmp_path / "tflite"
    code, stdout, err = run_cli(
        capsys, "export", str(sparse_model_file), "--out-dir", str(out_dir), "--pixel-scale", "unit",
        "--format", "int8", "--no-latency",
    )  # fmt: skip
    assert code == 1 and "differ from Keras's for sparse.int8 (not written" in err
    assert not any(p.name.endswith(".int8.tflite") for p in out_dir.iterdir())
    assert (out_dir / "sparse.float.tflite").exists()  # the float base was added, and agreed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "missing.keras", "--out-dir", "out"], "is not a file"),
        (["export", "a.keras", "--out-dir", "a.keras"], "--out-dir: a.keras is a file"),
        (["export", "a.keras", "--out-dir", "out", "--format", "fp16"], "invalid choice: 'fp16'"),
        (["export", "a.keras", "--out-dir", "out", "--rounds", "4"], "argument --rounds: 4 must be >= 5"),
        (["export", "a.keras", "--out-dir", "out", "--invokes", "100"], "must be >= 2000"),
        (
            ["export", "a.keras", "d/a.keras", "--out-dir", "out"],
            "a.keras and d/a.keras would both be exported as a.FORMAT.tflite",
        ),
    ],
)
def test_export_usage_errors(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.keras").write_text("not a model")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.keras").write_text("not a model")
    try:
        code, _, err = run_cli(capsys, *argv)
    except SystemExit as exc:
        code, err = exc.code, capsys.readouterr().err
    assert code == 2 and message in err


def test_export_refuses_a_file_that_is_not_a_model(capsys, tmp_path):
    (tmp_path / "a.keras").write_text("not a model")
    code, _, err = run_cli(capsys, "export", str(tmp_path / "a.keras"), "--out-dir", str(tmp_path / "out"))
    assert code == 2 and "a.keras is not a Keras archive (no zip directory in its 11 bytes)" in err


def test_export_formats_and_bounds_match_the_library():
    from l1lab.cli import edge
    from l1lab.cli import export as export_cli
    from l1lab.edge import export, latency

    assert tuple(export.FORMATS) == export_cli.EXPORT_FORMATS
    assert export.RUNTIMES == export_cli.RUNTIMES and export.DEFAULT_CALIBRATION == export_cli.DEFAULT_CALIBRATION
    assert (edge.MIN_ROUNDS, edge.MIN_INVOKES) == (latency.MIN_ROUNDS, latency.MIN_INVOKES)
    assert (edge.MAX_ROUNDS, edge.MAX_INVOKES) == (latency.MAX_ROUNDS, latency.MAX_INVOKES)


def test_sweep_trains_measures_and_reports_and_resumes(capsys, tmp_path):
    argv = ["sweep", "--out-dir", str(tmp_path), "--method", "l1lab-group", "--values", "l1lab-group=0.6"]
    argv += ["--seeds", "1", "--epochs", "2", "--num-samples", "100", "--jobs", "2"]
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert "0 of 2 points already trained; 2 to train" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frontier.png", "points", "sweep.json", "sweep.md"]
    assert stdout == (tmp_path / "sweep.md").read_text()
    report = json.loads((tmp_path / "sweep.json").read_text())
    assert [r["method"] for r in report["summary"]] == ["dense", "l1lab-group"]
    group = report["summary"][1]
    assert set(group["files"]) == {"float", "float-sparse", "int8", "int8-sparse", "int8-full"} and all(
        f["agrees"] for f in group["files"].values()
    )
    assert group["files"]["int8-full"]["micro_runs"] and group["files"]["int8-full"]["arena_bytes"] > 0
    assert report["interpreter_floor"]["latency_us"] > 0 and "not a device figure" in report["micro_note"]
    assert report["points"][1]["shipped"] == "compacted, kept inputs read directly"
    assert "| dense | 0 |" in stdout and "| l1lab-group | 0.6 |" in stdout
    code, _, err = run_cli(capsys, *argv)
    assert code == 0 and "2 of 2 points already trained; 0 to train" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--values", "tfmot=0.9,x"], "numbers separated by commas"),
        (["--values", "adam=0.1"], "--values for 'adam': the methods for model 'mlp' are"),
        (["--model", "ds-cnn", "--method", "l1lab-group"], "--method needs to be among"),
        (["--model", "ds-cnn", "--values", "l1lab-l1=0.9"], "--values for 'l1lab-l1': the methods for model 'ds-cnn'"),
        (["--method", "l1lab-channel"], "for model 'mlp'"),
        (["--model", "cnn"], "invalid choice: 'cnn'"),
        (["--dataset", "cifar"], "invalid choice: 'cifar'"),
        (["--values", "ftrl=-1"], "are finite strengths >= 0"),
        (["--values", "tfmot=1.5"], "are target sparsities between 0 and 1"),
        (["--values", "l1lab-l1=0"], "are target sparsities between 0 and 1"),
        (["--values", "l1lab-budget=0.5"], "are whole numbers of multiply-adds >= 1"),
        (["--values", "l1lab-budget=1500.5"], "are whole numbers of multiply-adds >= 1"),
        (["--method", "tfmot", "--values", "l1lab-group=0.9"], "--values for 'l1lab-group', which is not swept"),
        (["--values", "tfmot=0.9", "--values", "tfmot=0.5"], "--values tfmot=... given twice"),
        (["--values", "dense=0"], "the dense model has none"),
        (["--values", "tfmot=0.9,0.9"], "need to be distinct"),
        (["--invokes", "99999999999999999999999"], "must be <= 1000000"),
        (["--jobs", "0"], "argument --jobs: 0 must be >= 1"),
        (["--method", "prune"], "invalid choice: 'prune'"),
    ],
)
def test_sweep_usage_errors(capsys, tmp_path, argv, message):
    try:
        code, _, err = run_cli(capsys, "sweep", "--out-dir", str(tmp_path / "out"), *argv)
    except SystemExit as exc:
        code, err = exc.code, capsys.readouterr().err
    assert code == 2 and message in err
    assert not (tmp_path / "out").exists()  # refused before anything was made


@pytest.mark.parametrize("blocker", ["points", "sweep.json", "frontier.png"])
def test_sweep_refuses_outputs_it_cannot_write_before_training(capsys, tmp_path, blocker):
    out = tmp_path / "out"
    out.mkdir()
    if blocker == "points":
        (out / "points").write_text("a file where the points go")
    else:
        (out / blocker).mkdir()
    argv = ["sweep", "--out-dir", str(out), "--method", "dense", "--seeds", "1", "--epochs", "2"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and f"--out-dir: {out / blocker} is a" in err and "points already trained" not in err


# ---------------------------------------------------------------------------
# The promises every command keeps: one-line refusals with exit 2 before any work,
# outputs written through links and special files, never two outputs in one file.


def run_or_exit(capsys, *argv):
    """``(code, stderr)`` of a command, argparse's exits included."""
    try:
        code, _, err = run_cli(capsys, *argv)
    except SystemExit as exc:
        code, err = exc.code, capsys.readouterr().err
    return code, err


def save_dense(path, inputs=(784,), outputs=10, two_outputs=False):
    x = keras.Input(shape=inputs, name="pixels")
    hidden = keras.layers.Dense(16, activation="relu", name="dense_1")(x)
    y = keras.layers.Dense(outputs, name="predictions")(hidden)
    model = keras.Model(x, [y, keras.layers.Dense(2, name="extra")(hidden)] if two_outputs else y)
    model.save(path)
    return path


@pytest.fixture(scope="module")
def dense_file(tmp_path_factory):
    return save_dense(tmp_path_factory.mktemp("dense") / "dense.keras")


def test_train_refuses_out_and_save_model_in_one_file(capsys, tmp_path):
    target = tmp_path / "run.keras"
    (tmp_path / "link.jsonl").symlink_to(target)
    for out in (target, tmp_path / "link.jsonl"):
        code, err = run_or_exit(capsys, "train", "--numEpochs", "1", "--out", str(out), "--save-model", str(target))
        assert code == 2 and "--out and --save-model name one file" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl"]  # nothing trained, nothing written


@pytest.mark.parametrize(
    "name, message",
    [("folder", "is a directory"), ("folder/.keras", "with a name before it"), ("x/m.keras", "is not a directory")],
)
def test_train_refuses_a_save_model_path_before_training(capsys, tmp_path, name, message):
    (tmp_path / "folder.keras").mkdir()
    code, err = run_or_exit(
        capsys, "train", "--numEpochs", "1", "--save-model", str(tmp_path / name).replace("folder", "folder.keras", 1)
    )
    assert code == 2 and message in err


def test_train_saves_through_a_link(capsys, tmp_path):
    target, link = tmp_path / "kept.keras", tmp_path / "latest.keras"
    link.symlink_to(target)
    argv = ["train", "--numEpochs", "1", "--numSamples", "100", "--quiet", "--save-model", str(link)]
    assert run_cli(capsys, *argv)[0] == 0
    assert link.is_symlink() and keras.models.load_model(target).outputs[0].shape[-1] == 10


def test_compact_writes_to_a_device_without_the_suffix(capsys, dense_file):
    code, _, err = run_cli(capsys, "compact", str(dense_file), "--out", "/dev/null")
    assert code == 0 and "wrote /dev/null" in err and not os.path.isfile("/dev/null")


def test_compact_writes_through_a_link_and_a_fifo(capsys, dense_file, tmp_path):
    import os
    import threading

    target, link = tmp_path / "small.keras", tmp_path / "link.keras"
    link.symlink_to(target)
    assert run_cli(capsys, "compact", str(dense_file), "--out", str(link))[0] == 0
    assert link.is_symlink() and target.stat().st_size > 1000
    fifo = tmp_path / "pipe.keras"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo, "rb").read()))  # noqa: SIM115
    reader.start()
    assert run_cli(capsys, "compact", str(dense_file), "--out", str(fifo))[0] == 0
    reader.join(timeout=30)
    assert received and received[0][:4] == target.read_bytes()[:4] and not fifo.is_file()  # a zip or HDF5 model
    assert len(received[0]) > 1000  # the whole model came through the pipe, which was not replaced by a file


@pytest.mark.parametrize(
    "out, extra, message",
    [
        ("folder.keras", [], "is a directory"),
        ("MODEL", [], "--out would replace MODEL"),
        ("small.keras", ["--epsilon", "nan"], "epsilon needs to be finite and >= 0"),
        ("small.keras", ["--epsilon", "inf"], "epsilon needs to be finite and >= 0"),
        ("small.keras", ["--epsilon", "-1"], "epsilon needs to be finite and >= 0"),
    ],
)
def test_compact_refuses_bad_outputs_and_epsilons_before_work(capsys, dense_file, tmp_path, out, extra, message):
    (tmp_path / "folder.keras").mkdir()
    out = str(dense_file) if out == "MODEL" else str(tmp_path / out)
    before = dense_file.read_bytes()
    code, err = run_or_exit(capsys, "compact", str(dense_file), "--out", out, *extra)
    assert code == 2 and message in err
    assert dense_file.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["folder.keras"]


@pytest.mark.parametrize(
    "kind, message",
    [
        ("rank3", "takes inputs of shape (28, 28): compaction removes input features of a vector"),
        ("two-outputs", "takes 1 inputs and gives 2 outputs"),
        ("nan", "has a NaN weight in"),
        ("inf", "has a infinite weight in"),
        pytest.param(
            "unbuilt",
            "has no defined input",
            marks=pytest.mark.skipif(TF_VERSION < (2, 13), reason="tf.keras 2.12 cannot save an unbuilt Sequential"),
        ),
    ],
)
def test_edge_commands_refuse_models_they_cannot_take_in_one_line(capsys, tmp_path, kind, message):
    path = tmp_path / "model.keras"
    if kind == "rank3":
        save_dense(path, inputs=(28, 28))
    elif kind == "two-outputs":
        save_dense(path, two_outputs=True)
    elif kind == "unbuilt":
        keras.Sequential([keras.layers.Dense(3)]).save(path)
    else:
        model = keras.models.load_model(save_dense(path))
        kernel = model.get_layer("dense_1").kernel
        kernel.assign(kernel.numpy() * (float("nan") if kind == "nan" else float("inf")))
        model.save(path)
    commands = [["compact", str(path), "--out", str(tmp_path / "small.keras")]]
    if kind != "rank3":  # export takes any input shape
        commands.append(["export", str(path), "--out-dir", str(tmp_path / "out"), "--no-latency"])
    for argv in commands:
        code, err = run_or_exit(capsys, *argv)
        assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "small.keras").exists() and not any(
        (tmp_path / "out").iterdir() if (tmp_path / "out").exists() else []
    )


def test_compact_checks_a_model_of_another_width_on_inputs_of_its_own_shape(capsys, tmp_path):
    path = save_dense(tmp_path / "hundred.keras", inputs=(100,))
    code, stdout, err = run_cli(capsys, "compact", str(path), "--out", str(tmp_path / "small.keras"), "--json")
    assert code == 0, err
    check = json.loads(stdout)["check"]
    assert check["equal"] and check["examples"] == 1000 and "random inputs of shape (100,)" in check["inputs"]


@pytest.mark.parametrize(
    "names, extra, message",
    [
        (["dense-784-64-64-10.keras"], [], "and the default reference would both be exported as dense-784-64-64-10"),
        (["reference-r.keras"], ["--reference", "r.keras"], "reference-r.keras and r.keras would both be exported"),
        (["a.keras"], ["--invokes", "99999999999999999999999"], "must be <= 1000000"),
        (["a.keras"], ["--rounds", "99999999999999999999999"], "must be <= 1000"),
        (["a.keras", "./a.keras"], [], "./a.keras is given twice: export each model once"),
    ],
)
def test_export_refuses_clashing_names_and_endless_measurements(capsys, tmp_path, monkeypatch, names, extra, message):
    monkeypatch.chdir(tmp_path)
    for name in [*names, "r.keras"]:
        save_dense(tmp_path / name)
    code, err = run_or_exit(capsys, "export", *names, "--out-dir", "out", *extra)
    assert code == 2 and message in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_all_zero_model_is_exported_with_a_valid_report(capsys, tmp_path):
    model = keras.models.load_model(save_dense(tmp_path / "zero.keras"))
    for weight in model.weights:
        weight.assign(weight.numpy() * 0)
    model.save(tmp_path / "zero.keras")
    argv = ["export", str(tmp_path / "zero.keras"), "--out-dir", str(tmp_path / "out"), "--no-latency"]
    code, _, err = run_cli(capsys, *argv, "--format", "int8-sparse")
    report = json.loads((tmp_path / "out" / "export.json").read_text())  # written, and valid JSON
    rows = {(r["model"], r["format"]): r for r in report["files"]}
    zero = rows["zero", "int8-sparse"]["check"]
    assert (zero["max_abs_diff"] is None) == (zero["non_finite_outputs"] > 0)
    assert zero["agrees"] == (code == 0) and (code == 0 or "zero.int8-sparse" in err)
    assert all((tmp_path / "out" / f"{m}.{f}.tflite").exists() == r["check"]["agrees"] for (m, f), r in rows.items())


def test_a_cnn_trains_with_channel_l1_on_fashion_mnist_and_compacts(capsys, tmp_path):
    """The CNN route end to end: --model, --dataset, --channel-l1, then compact with BatchNorm folded."""
    trained, small = tmp_path / "ds.keras", tmp_path / "small.keras"
    common = ["--dataset", "fashion-mnist", "--split", "standard", "--num-samples", "200", "--pixel-scale", "unit"]
    code, out, err = run_cli(
        capsys,
        "train", "--model", "ds-cnn", *common, "--epochs", "2", "--method", "proximal-adagrad",
        "--learning-rate", "0.05", "--channel-l1", "0.05", "--save-model", str(trained), "--quiet",
    )  # fmt: skip
    assert code == 0, err
    args = json.loads(out.splitlines()[0])["args"]
    assert (args["model"], args["dataset"], args["channelL1"]) == ("ds-cnn", "fashion-mnist", 0.05)
    code, out, err = run_cli(
        capsys, "compact", str(trained), "--out", str(small), "--dataset", "fashion-mnist", "--pixel-scale", "unit",
        "--fold-batchnorm", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["check"]["equal"] and report["check"]["inputs"] == "Fashion-MNIST's test file (10000 images)"
    assert report["removed_channels"] > 0 and report["multiply_adds_after"] < report["multiply_adds_before"]
    assert len(report["folded_batchnorm"]) == 7
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization) for layer in keras.models.load_model(small).layers
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "resnet8", "--method", "proximal-sgd", "--group-l1", "1"], "use --channel-l1, which follows"),
        (["--model", "tfmot-cnn", "--method", "sgd", "--channel-l1", "0.1"], "takes no channel strengths"),
        (["--model", "ds-cnn", "--method", "l1-regularizer", "--l1", "0.1"], "choose proximal-sgd or"),
        (["--model", "vgg"], "invalid choice: 'vgg'"),
        (["--model", "tfmot-cnn", "--method", "proximal-sgd", "--slimming-l1", "0.02"], "has none: use --channel-l1"),
        (
            ["--model", "ds-cnn", "--epochs", "2", "--finetune-epochs", "1", "--target-multiply-adds", "50000"]
            + ["--unit-multiple", "8"],
            "(8 channels per layer). Received: --target-multiply-adds 50000",
        ),
        (
            ["--model", "ds-cnn", "--epochs", "2", "--finetune-epochs", "1", "--target-multiply-adds", "100"],
            "--target-multiply-adds needs to be at least",
        ),
    ],
)
def test_cnn_options_a_model_cannot_take_are_refused_before_training(capsys, argv, message):
    code, err = run_or_exit(capsys, "train", "--epochs", "1", *argv)
    assert code == 2 and message in err, err
