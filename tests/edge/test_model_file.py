"""l1lab.edge.model_file: model files the edge commands refuse, in one line naming the file and the fix."""

import json
import zipfile

import numpy as np
import pytest

from l1lab._compat import KERAS_MAJOR, TF_VERSION, keras
from l1lab.edge import model_file


def small_model(inputs=784, outputs=10):
    x = keras.Input(shape=(inputs,), name="pixels")
    return keras.Model(x, keras.layers.Dense(outputs, name="predictions")(keras.layers.Dense(8, name="dense_1")(x)))


def save_archive(model, path):
    """A ``.keras`` zip archive in every Keras (tf.keras 2.12 writes HDF5 for that name unless told)."""
    model.save(path, **({"save_format": "keras_v3"} if TF_VERSION < (2, 13) else {}))
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_archive(small_model(), tmp_path_factory.mktemp("saved") / "model.keras")


def rewritten(source, target, **replace):
    """A copy of the archive ``source`` with some members' text replaced: ``{member: (old, new)}``."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
        for name in archive.namelist():
            data = archive.read(name)
            if name in replace:
                old, new = replace[name]
                assert old.encode() in data
                data = data.replace(old.encode(), new.encode())
            out.writestr(name, data)
    return target


def test_a_saved_model_loads_with_the_keras_that_wrote_it(saved):
    model = model_file.load(saved)
    assert model.outputs[0].shape[-1] == 10
    assert model_file.saved_by(saved).split(".")[0] == str(KERAS_MAJOR)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"\x89HDF\r\n\x1a\n" + bytes(100), "is an HDF5 file"),
        (bytes(range(256)) * 20, "is not a Keras archive (no zip directory in its 5120 bytes)"),
    ],
    ids=["empty", "h5", "random"],
)
def test_damaged_files_say_what_they_are(tmp_path, content, message):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    with pytest.raises(model_file.ModelFileError, match=f"^{path}") as caught:
        model_file.load(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.skipif(KERAS_MAJOR == 2, reason="Keras 2 reads an HDF5 model by its content, whatever its name")
def test_keras3_names_an_hdf5_model_named_like_an_archive(tmp_path):
    path = tmp_path / "model.keras"
    small_model().save(tmp_path / "model.h5")
    (tmp_path / "model.h5").rename(path)
    with pytest.raises(model_file.ModelFileError, match="is an HDF5 file \\(a legacy .h5 model\\) named like a .keras"):
        model_file.load(path)
    path.rename(tmp_path / "model.h5")
    assert model_file.load(tmp_path / "model.h5").outputs[0].shape[-1] == 10  # renamed, it loads


def test_an_hdf5_model_named_h5_loads(tmp_path):
    path = tmp_path / "model.h5"
    small_model().save(path)
    assert model_file.load(path).outputs[0].shape[-1] == 10


def test_a_truncated_archive_is_said_to_be_truncated(tmp_path, saved):
    path = tmp_path / "model.keras"
    path.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(model_file.ModelFileError, match="truncated, damaged or not a model"):
        model_file.load(path)


def test_a_zip_that_is_not_a_model(tmp_path):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(model_file.ModelFileError, match="a zip archive but not a Keras model"):
        model_file.load(path)


def test_a_file_from_the_other_keras_names_both_versions(tmp_path, saved):
    other = "2.21.0" if KERAS_MAJOR == 3 else "3.15.1"
    mine = model_file.saved_by(saved)
    path = rewritten(saved, tmp_path / "other.keras", **{"metadata.json": (mine, other)})
    with pytest.raises(model_file.ModelFileError, match=f"was saved by Keras {other}, and this process runs Keras"):
        model_file.load(path)
    fix = "set TF_USE_LEGACY_KERAS=1" if KERAS_MAJOR == 3 else "where Keras 3 runs"
    with pytest.raises(model_file.ModelFileError, match=fix):
        model_file.load(path)


def test_a_class_this_process_cannot_build_is_named_in_one_line(tmp_path, saved):
    config = json.loads(zipfile.ZipFile(saved).read("config.json"))
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Dense":  # as Keras saves a user's subclassed layer
            layer.update(module="my_company.layers", class_name="MyDense", registered_name="MyCompany>MyDense")
    custom = json.dumps(config)
    path = rewritten(
        saved,
        tmp_path / "custom.keras",
        **{"config.json": (zipfile.ZipFile(saved).read("config.json").decode(), custom)},
    )
    assert len(custom) > 1000
    with pytest.raises(model_file.ModelFileError) as caught:
        model_file.load(path)
    message = str(caught.value)
    assert "uses the class 'MyDense'" in message and "register_keras_serializable" in message
    assert len(message) < 400 and "\n" not in message  # not Keras's dump of the whole config


def test_an_unbuilt_sequential_is_refused():
    with pytest.raises(model_file.ModelFileError, match="has no defined input"):
        model_file.check_model(keras.Sequential([keras.layers.Dense(3)]), "seq.keras")


def test_two_outputs_are_refused():
    x = keras.Input(shape=(784,))
    model = keras.Model(x, [keras.layers.Dense(10)(x), keras.layers.Dense(2)(x)])
    with pytest.raises(model_file.ModelFileError, match="takes 1 inputs and gives 2 outputs"):
        model_file.check_model(model, "two.keras")


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")])
def test_a_non_finite_weight_is_refused_naming_its_variable(value, word):
    model = small_model()
    kernel = model.get_layer("dense_1").kernel
    weights = kernel.numpy()
    weights[3, 2] = value
    kernel.assign(weights)
    with pytest.raises(model_file.ModelFileError, match=f"has a {word} weight in .*dense_1.*kernel.* \\(1 of 6272\\)"):
        model_file.check_model(model, "bad.keras")


def test_check_inputs_are_mnist_reshaped_or_random_of_the_models_shape():
    images = np.random.default_rng(1).uniform(0, 255, (50, 784)).astype(np.float32)
    x, what = model_file.check_inputs(small_model(), images)
    assert x.shape == (50, 784) and np.array_equal(x, images) and "MNIST's test file (50 images)" in what
    square = keras.Model(i := keras.Input(shape=(28, 28)), keras.layers.Dense(3)(i))
    x, _ = model_file.check_inputs(square, images)
    assert x.shape == (50, 28, 28) and np.array_equal(x.reshape(50, 784), images)
    x, what = model_file.check_inputs(small_model(inputs=100), images)
    assert x.shape == (model_file.RANDOM_CHECK_EXAMPLES, 100) and x.min() >= 0 and x.max() <= 255
    assert "random inputs of shape (100,)" in what and x.std() > 50  # spread over the images' range
