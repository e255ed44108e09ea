"""The project's own unit tests, beside the scenario tests l1lab's plugin adds."""

import numpy as np
from my_sparse_model.model import small_cnn, small_mlp


def test_the_models_give_ten_logits_per_image():
    images = np.zeros((2, 28, 28, 1), np.float32)
    for build in (small_cnn, small_mlp):
        assert build(0)(images).shape == (2, 10)


def test_a_seed_fixes_the_initial_weights():
    first, again = small_cnn(3), small_cnn(3)
    for a, b in zip(first.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_top2_error_counts_images_whose_class_is_not_in_the_two_highest_logits():
    from types import SimpleNamespace

    from my_sparse_model.model import top2_error

    class Logits:
        def __call__(self, x):
            return np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0], [0.0, 2.0, 1.0]])[: len(x)]

    split = SimpleNamespace(x_test=np.zeros((3, 1)), y_test=np.array([0, 0, 1]))
    assert top2_error(Logits(), split) == 1 / 3
