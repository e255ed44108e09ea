"""l1lab train --save-model and l1lab compact."""

import json

import pytest

from l1lab import cli
from l1lab._compat import keras


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


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
        (["compact", "model.h5", "--out", "small.txt"], "needs the .keras suffix"),
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
    x = keras.layers.BatchNormalization(name="norm")(x)
    path = tmp_path / "other.keras"
    keras.Model(inputs, keras.layers.Dense(10, name="predictions")(x)).save(path)
    code, out, err = run_cli(capsys, "compact", str(path), "--out", str(tmp_path / "small.keras"))
    assert code == 2 and "'norm' (BatchNormalization)" in err
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
    from l1lab.edge import export

    real_check = export.check

    def broken_int8(model, content, fmt, x):
        result = real_check(model, content, fmt, x)
        return result if fmt != "int8" else export.OutputCheck(**{**result.as_dict(), "agrees": False})

    monkeypatch.setattr(export, "check", broken_int8)
    out_dir = tmp_path / "tflite"
    code, stdout, err = run_cli(
        capsys, "export", str(sparse_model_file), "--out-dir", str(out_dir), "--pixel-scale", "unit",
        "--format", "int8", "--no-latency",
    )  # fmt: skip
    assert code == 1 and "differ from Keras's for dense-784-64-64-10.int8, sparse.int8" in err
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
        (["export", "a.keras", "d/a.keras", "--out-dir", "out"], "two models named 'a'"),
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
    assert code == 2 and "cannot load" in err and "as a Keras model" in err


def test_export_formats_and_minimums_match_the_library():
    from l1lab.cli import edge
    from l1lab.edge import export, latency

    assert tuple(export.FORMATS) == edge.EXPORT_FORMATS
    assert (edge.MIN_ROUNDS, edge.MIN_INVOKES) == (latency.MIN_ROUNDS, latency.MIN_INVOKES)


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
    assert set(group["files"]) == {"float", "float-sparse", "int8", "int8-sparse"} and all(
        f["agrees"] for f in group["files"].values()
    )
    assert report["points"][1]["shipped"] == "compacted, kept inputs read directly"
    assert "| dense | 0 |" in stdout and "| l1lab-group | 0.6 |" in stdout
    code, _, err = run_cli(capsys, *argv)
    assert code == 0 and "2 of 2 points already trained; 0 to train" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--values", "tfmot=0.9,x"], "numbers separated by commas"),
        (["--values", "adam=0.1"], "is not METHOD=V1,V2,..."),
        (["--values", "ftrl=-1"], "finite and >= 0"),
        (["--values", "tfmot=1.5"], "its values are target sparsities between 0 and 1"),
        (["--values", "l1lab-l1=0"], "its values are target sparsities between 0 and 1"),
        (["--values", "l1lab-budget=0.5"], "its values are whole numbers of multiply-adds >= 1"),
        (["--values", "l1lab-budget=1500.5"], "its values are whole numbers of multiply-adds >= 1"),
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
    assert not (tmp_path / "out" / "points").exists()


def test_sweep_methods_match_the_library():
    from l1lab.cli import edge
    from l1lab.edge import frontier

    assert tuple(frontier.METHODS) == edge.SWEEP_METHODS
    assert tuple(m for m, (knob, _) in frontier.METHODS.items() if knob == "target") == edge.TARGET_METHODS
    assert tuple(m for m, (knob, _) in frontier.METHODS.items() if knob == "budget") == edge.BUDGET_METHODS
