"""The claims this project ships on: its models, trained sparse, over seeds, on every TensorFlow upgrade.

``pytest -m "not slow"`` smoke-tests each scenario; ``pytest -m slow`` trains it and checks it against
golden/<name>.json; ``pytest -m slow --l1lab-regen`` writes those files (then review the diff).
``top2_error`` is a metric of the project's own, measured after every epoch beside l1lab's, with its
own tolerance.
"""

from l1lab.suite import MethodOptions, Scenario
from my_sparse_model.model import load_fashion_mnist, small_cnn, small_mlp, top2_error

SCENARIOS = [
    Scenario(
        name="mlp-l1",
        why="a TensorFlow change that stops the proximal step from making zeros fails here",
        model=small_mlp,
        data=load_fashion_mnist,
        method="proximal-sgd",
        l1=1e-3,
        learning_rate=0.05,
        epochs=5,
        seeds=3,
        metrics={"top2_error": top2_error},
        tolerances={"top2_error": (0.0, 0.015)},  # as l1lab's inacc_test: 1.5 points of 10,000 images
        claims=["sparsity > 0.35", "inacc_test < 0.25", "top2_error < 0.1"],
    ),
    Scenario(
        name="cnn-channels",
        why="whole channels removed from the CNN: group lasso through its convolutions",
        model=small_cnn,
        data=load_fashion_mnist,
        method="proximal-sgd",
        options=MethodOptions(channel_l1=0.005),
        learning_rate=0.1,
        epochs=5,
        seeds=3,
        structure=True,
        claims=["removed_channels > 12", "inacc_test < 0.22"],
    ),
]
