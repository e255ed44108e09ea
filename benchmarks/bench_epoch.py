"""Seconds per epoch of the article's configuration: l1lab's loop against the article's.

The article's configuration: 50,000 training and 10,000 test images, batch
64, shuffle buffer 1024, plain SGD at 1e-3, then an evaluation on train and
test after the epoch. Three loops train the same model:

* ``eager``: written like the article: a Python loop over a ``tf.data``
  pipeline, an eager ``GradientTape`` step per batch, ``model.evaluate``.
* ``step-function``: the same loop with the step wrapped in ``tf.function``
  (one compiled call per batch from Python).
* ``l1lab``: :class:`l1lab.train.Run`: one compiled program per epoch over
  data held on the device, one compiled evaluation.

Each loop runs ``--warmup`` epochs untimed (tracing), then ``--epochs``
timed ones; the figure is the median seconds per epoch, evaluation included.
Also printed: the time to load MNIST from the cache. Run::

    python benchmarks/bench_epoch.py [--epochs 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from l1lab import data as data_lib
from l1lab import train as train_lib
from l1lab._compat import keras, tf, versions
from l1lab.model import build_model

LEARNING_RATE = 1e-3
BATCH = 64
BUFFER = 1024


def _article_model(seed):
    model = build_model(seed=seed)
    optimizer = keras.optimizers.SGD(learning_rate=LEARNING_RATE)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=optimizer, loss=loss_fn, metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return model, optimizer, loss_fn


def article_loop(split, seed, compiled_step: bool):
    """One epoch function in the article's style; returns a callable."""
    model, optimizer, loss_fn = _article_model(seed)
    dataset = tf.data.Dataset.from_tensor_slices((split.x_train, split.y_train)).shuffle(BUFFER, seed=seed).batch(BATCH)

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    if compiled_step:
        step = tf.function(step)

    def epoch():
        for x, y in dataset:
            step(x, y)
        model.evaluate(split.x_train, split.y_train, verbose=0)
        model.evaluate(split.x_test, split.y_test, verbose=0)

    return epoch


def l1lab_loop(split, seed):
    run = train_lib.Run(train_lib.TrainConfig(seed=seed), split)
    orders = train_lib.epoch_orders(run.loop.num_examples, BUFFER, seed)
    state = {"epoch": 0}

    def epoch():
        run.loop.train_epoch(next(orders))
        run.measure(state["epoch"])  # evaluation on train and test, and the zero count
        state["epoch"] += 1

    return epoch


def seconds_per_epoch(epoch, warmup: int, epochs: int) -> tuple[float, float]:
    started = time.perf_counter()
    for _ in range(warmup):
        epoch()
    first = (time.perf_counter() - started) / max(warmup, 1)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - started)
    return statistics.median(times), first


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per loop (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs first (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-eager", action="store_true", help="skip the slow eager loop")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    split = data_lib.load_mnist(10_000)
    load_seconds = time.perf_counter() - started
    print(f"data: {split.x_train.shape[0]} train / {split.x_test.shape[0]} test from {split.source}")
    print(f"data load from cache: {load_seconds:.2f} s (target < 2 s)")

    loops = {
        "step-function": lambda: article_loop(split, args.seed, compiled_step=True),
        "l1lab": lambda: l1lab_loop(split, args.seed),
    }
    if not args.skip_eager:
        loops = {"eager": lambda: article_loop(split, args.seed, compiled_step=False), **loops}
    results = {}
    for name, make in loops.items():
        median, first = seconds_per_epoch(make(), args.warmup, args.epochs)
        results[name] = {"seconds_per_epoch": median, "first_epoch_seconds": first}
        print(f"{name:>14}: {median:7.3f} s/epoch (median of {args.epochs}; first epoch {first:.3f} s)", flush=True)

    figures = {
        "load_seconds": load_seconds,
        "loops": results,
        "versions": versions(),
        "epochs": args.epochs,
        "warmup": args.warmup,
    }
    base = "eager" if "eager" in results else "step-function"
    ratio = results[base]["seconds_per_epoch"] / results["l1lab"]["seconds_per_epoch"]
    figures[f"speedup_vs_{base}"] = ratio
    target = " (target >= 10x)" if base == "eager" else ""
    print(f"l1lab is {ratio:.1f}x faster per epoch than the {base} loop{target}")
    if "eager" in results:
        per_200 = 200 * results["l1lab"]["seconds_per_epoch"]
        print(f"a 200-epoch article run with l1lab: about {per_200:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
