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
