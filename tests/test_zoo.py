"""The model zoo: shapes, names, seeded initial weights, multiply-adds, and the channel graph follows each."""

import numpy as np
import pytest

from l1lab import zoo
from l1lab.channels import channel_graph

MULTIPLY_ADDS = {"mlp": 54_912, "tfmot-cnn": 93_288, "ds-cnn": 442_496, "resnet8": 645_216}


@pytest.mark.parametrize("name", sorted(zoo.MODELS))
def test_each_model_gives_ten_logits_and_its_documented_cost(name):
    model = zoo.build(name, seed=0)
    x = np.zeros((2, 784) if name == "mlp" else (2, *zoo.IMAGE_SHAPE), np.float32)
    assert tuple(model(x).shape) == (2, 10) and model.layers[-1].name == "predictions"
    assert zoo.multiply_adds(model) == MULTIPLY_ADDS[name]
    # Kept whatever happens: the 10 outputs, and a CNN's one image channel (the MLP's pixels can go).
    assert channel_graph(model).fixed.sum() == (10 if name == "mlp" else 11)


def test_tfmot_cnn_by_hand():
    conv = 26 * 26 * 3 * 3 * 12
    assert MULTIPLY_ADDS["tfmot-cnn"] == conv + 13 * 13 * 12 * 10
    names = [layer.name for layer in zoo.build("tfmot-cnn").layers]
    assert names == ["images", "conv", "pool", "flatten", "predictions"]


@pytest.mark.parametrize("name", ["tfmot-cnn", "ds-cnn", "resnet8"])
def test_a_seed_fixes_the_initial_weights(name):
    first, again, other = (zoo.build(name, seed=s).get_weights() for s in (3, 3, 4))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_an_unknown_model_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"`model` needs to be one of \['ds-cnn', 'mlp', 'resnet8', 'tfmot-cnn'\]"):
        zoo.build("mobilenet")


def test_the_cli_s_names_are_the_zoo_s():
    from l1lab.config import MODEL_NAMES

    assert set(MODEL_NAMES) == set(zoo.MODELS)
