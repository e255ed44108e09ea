"""Training a configuration over seeds into column-wise trajectories."""

from l1lab import runs
from l1lab.config import MethodOptions, TrainConfig
from l1lab.model import dense_weights


def test_per_epoch_columns_join_each_epoch_as_it_ends(tiny_split):
    config = TrainConfig(epochs=3, num_samples=64, batch_size=32, learning_rate=0.05, shuffle_buffer=64)
    config = TrainConfig(**{**config.__dict__, "method": "proximal-sgd", "options": MethodOptions(l1=0.05)})
    seen = []

    def per_epoch(model):
        nonzero = sum(int((abs(kernel) > 1e-5).sum()) for kernel, _ in dense_weights(model))
        seen.append(nonzero)
        return {"multiply_adds": nonzero}

    trajectories, sizes = runs.run_seeds(config, [0], data=tiny_split(), per_epoch=per_epoch)
    trajectory = trajectories[0]
    assert trajectory["multiply_adds"] == seen and len(seen) == 3
    assert seen[0] > seen[-1]  # taken after each epoch, not once at the end
    assert "kept_inputs" not in trajectory  # only what per_epoch gave
    plain, _ = runs.run_seeds(config, [0], data=tiny_split())
    assert "multiply_adds" not in plain[0]
    assert plain[0]["sparsity"] == trajectory["sparsity"]  # the hook changes nothing it observes
