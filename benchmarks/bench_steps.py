"""Milliseconds per training step of every method, against plain SGD, in one run.

The article's network and batch (64), its data (50,000 images, raw pixels),
Keras 3 unless ``TF_USE_LEGACY_KERAS=1``. Each method trains whole epochs in
l1lab's compiled loop (one program per epoch); a step's cost is the epoch's
time over its 782 steps. Methods are timed in interleaved rounds so that
machine noise falls on all of them alike; the figure is the median over
rounds. Also timed: the article's own proximal step (an eager SGD step, then
NumPy soft-thresholding on the host), on a few hundred steps.

    python benchmarks/bench_steps.py [--rounds 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from l1lab import data as data_lib
from l1lab import methods, train
from l1lab._compat import KERAS_FLAVOUR, keras, tf, versions
from l1lab.model import build_model

LEARNING_RATE = 1e-3
SETTINGS = {  # method -> L1 strength (the article's where it has one)
    "sgd": 0.0,
    "l1-regularizer": 1e-4,
    "proximal-adagrad-tf": 1e-3,
    "proximal-sgd": 1e-3,
    "proximal-adagrad": 1e-3,
    "ftrl": 1e-3,
}


def _run(method, split, seed):
    config = train.TrainConfig(seed=seed, method=method, options=methods.MethodOptions(l1=SETTINGS[method]))
    return train.Run(config, split), config


def compiled_epoch(method, split, seed):
    run, config = _run(method, split, seed)
    orders = train.epoch_orders(run.loop.num_examples, config.shuffle_buffer, seed)
    run.loop.train_epoch(next(orders))  # trace and warm up
    return run.loop, orders


def xla_step_ms(method, split, seed, steps: int) -> float:
    """One XLA-compiled train step (``jit_compile=True``) called from Python per batch."""
    run, _ = _run(method, split, seed)
    step = tf.function(run.loop.train_step, jit_compile=True)
    batches = [(run.loop.x_train[i * 64 : (i + 1) * 64], run.loop.y_train[i * 64 : (i + 1) * 64]) for i in range(steps)]
    for x, y in batches[:10]:
        step(x, y).numpy()  # compile
    started = time.perf_counter()
    for x, y in batches:
        loss = step(x, y)
    loss.numpy()
    return 1000 * (time.perf_counter() - started) / steps


def article_numpy_step_ms(split, steps: int, seed: int) -> float:
    """The article's --regL1Alt: eager SGD step, then threshold every variable in NumPy."""
    model = build_model(seed=seed)
    optimizer = keras.optimizers.SGD(LEARNING_RATE)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    threshold = LEARNING_RATE * SETTINGS["proximal-sgd"]
    x, y = split.x_train, split.y_train
    times = []
    for i in range(steps + 10):
        xb, yb = x[(i * 64) % 49_984 :][:64], y[(i * 64) % 49_984 :][:64]
        started = time.perf_counter()
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        for v in model.trainable_variables:
            w = v.numpy()
            v.assign(np.sign(w) * np.maximum(np.abs(w) - threshold, 0))
        if i >= 10:
            times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per method (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--article-steps", type=int, default=300, help="steps of the article's NumPy step")
    parser.add_argument("--xla-steps", type=int, default=300, help="steps per XLA-step timing")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    split = data_lib.load_mnist(10_000)
    loops = {method: compiled_epoch(method, split, args.seed) for method in SETTINGS}
    steps = next(iter(loops.values()))[0].num_batches
    times: dict[str, list[float]] = {m: [] for m in loops}
    for _ in range(args.rounds):
        for method, (loop, orders) in loops.items():
            order = next(orders)
            started = time.perf_counter()
            loop.train_epoch(order)
            times[method].append(time.perf_counter() - started)
    ms = {m: 1000 * statistics.median(t) / steps for m, t in times.items()}
    article_ms = article_numpy_step_ms(split, args.article_steps, args.seed)
    xla_ms = {}
    for _ in range(args.rounds):  # interleaved too, median over rounds
        for method in SETTINGS:
            xla_ms.setdefault(method, []).append(xla_step_ms(method, split, args.seed, args.xla_steps))
    xla_ms = {m: statistics.median(v) for m, v in xla_ms.items()}

    print(
        f"{KERAS_FLAVOUR}, TensorFlow {tf.__version__}; batch 64, {steps} steps per epoch, "
        f"median of {args.rounds} epochs per method"
    )
    print(
        "  epoch loop: l1lab's compiled epoch (graph, no XLA); XLA step: one jit_compile=True "
        "step per batch, called from Python"
    )
    print(f"{'method':<24}{'epoch loop':>11}{'x sgd':>7}{'XLA step':>10}{'x sgd':>7}   (ms per step)")
    for method in SETTINGS:
        print(
            f"{method:<24}{ms[method]:11.3f}{ms[method] / ms['sgd']:7.2f}"
            f"{xla_ms[method]:10.3f}{xla_ms[method] / xla_ms['sgd']:7.2f}"
        )
    print(f"{'article NumPy step':<24}{article_ms:11.3f}{article_ms / ms['sgd']:7.2f}   (eager step + host round trip)")
    ratios = {
        "proximal_sgd_over_sgd": {
            "epoch_loop": ms["proximal-sgd"] / ms["sgd"],
            "xla_step": xla_ms["proximal-sgd"] / xla_ms["sgd"],
        },
        "proximal_adagrad_over_tf": {
            "epoch_loop": ms["proximal-adagrad"] / ms["proximal-adagrad-tf"],
            "xla_step": xla_ms["proximal-adagrad"] / xla_ms["proximal-adagrad-tf"],
        },
    }
    for name, target in (("proximal_sgd_over_sgd", 1.05), ("proximal_adagrad_over_tf", 1.0)):
        r = ratios[name]
        print(f"{name}: epoch loop {r['epoch_loop']:.3f}, XLA step {r['xla_step']:.3f} (target <= {target})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "ms_per_step_epoch_loop": ms,
                    "ms_per_step_xla": xla_ms,
                    "article_numpy_step_ms": article_ms,
                    "ratios": ratios,
                    "versions": versions(),
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
