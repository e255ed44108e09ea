"""A compatibility report of the installed stack: what works, probed for real.

Every line is a probe that runs the thing (a tiny model, one step), not a
version lookup; a version appears only as information. Between TensorFlow
2.12 and 2.21 the ground moved (Keras 3 in 2.16 rejects ``tf.compat.v1.train``
optimizers in ``compile``, its variables break
``ProximalAdagradOptimizer.apply_gradients``, GPU kernels came and went per
op); ``l1lab doctor`` tells which of l1lab's methods work on this stack, and
exits 1 naming the ones that do not.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from l1lab import devices
from l1lab._compat import IS_KERAS3, KERAS_FLAVOUR, KERAS_VERSION, keras, tf, tf_variable, versions
from l1lab._io import format_table

OK, FAILS, INFO = "ok", "fails", "info"


@dataclasses.dataclass(frozen=True)
class Probe:
    name: str
    status: str  # ok | fails | info
    detail: str

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _first_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def _tiny_model(regularizer=None):
    from l1lab.model import build_model

    return build_model(
        (4,), input_dim=3, num_classes=2, seed=0, kernel_regularizers={"dense_1": regularizer} if regularizer else None
    )


_X = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 2.0]], np.float32)
_Y = np.array([0, 1], np.int32)


def _v1_proximal_adagrad():
    return tf.compat.v1.train.ProximalAdagradOptimizer(
        0.1, initial_accumulator_value=0.01, l1_regularization_strength=0.01
    )


def _grads(model):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(_Y, model(_X)))
    return tape.gradient(loss, model.trainable_variables)


def probe_v1_direct() -> str:
    model = _tiny_model()
    _v1_proximal_adagrad().apply_gradients(zip(_grads(model), model.trainable_variables))
    return "apply_gradients on the Keras variables works"


def probe_v1_tf_variable() -> str:
    model = _tiny_model()
    before = model.trainable_variables[0].numpy().copy()
    pairs = [(g, tf_variable(v)) for g, v in zip(_grads(model), model.trainable_variables)]
    _v1_proximal_adagrad().apply_gradients(pairs)
    if np.array_equal(before, model.trainable_variables[0].numpy()):
        raise AssertionError("the step did not change the Keras variable behind the tf.Variable")
    return "apply_gradients on each variable's tf.Variable works (what proximal-adagrad-tf does)"


def probe_v1_compile() -> str:
    model = _tiny_model()
    model.compile(optimizer=_v1_proximal_adagrad(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(_X, _Y, epochs=1, verbose=0)
    return "model.compile and fit accept it"


def probe_regularizer_fit() -> str:
    lr, c = 0.1, 0.5
    plain, penalised = _tiny_model(), _tiny_model(keras.regularizers.L1(c))
    start = penalised.get_layer("dense_1").kernel.numpy().copy()
    for model in (plain, penalised):
        model.compile(
            optimizer=keras.optimizers.SGD(lr), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        model.fit(_X, _Y, batch_size=2, epochs=1, verbose=0, shuffle=False)
    gap = penalised.get_layer("dense_1").kernel.numpy() - plain.get_layer("dense_1").kernel.numpy()
    np.testing.assert_allclose(gap, -lr * c * np.sign(start), atol=1e-5)
    return "fit steps on the penalty: the kernels differ by -lr*c*sign(w)"


def probe_regularizer_loop() -> str:
    from l1lab.train import CompiledLoop

    lr, c = 0.1, 0.5
    kernels = []
    for regularizer in (None, keras.regularizers.L1(c)):
        model = _tiny_model(regularizer)
        start = model.get_layer("dense_1").kernel.numpy().copy()
        optimizer = keras.optimizers.SGD(lr)
        optimizer.build(model.trainable_variables)
        CompiledLoop(model, optimizer, _X, _Y, batch_size=2).train_step(_X, _Y)
        kernels.append(model.get_layer("dense_1").kernel.numpy())
    np.testing.assert_allclose(kernels[1] - kernels[0], -lr * c * np.sign(start), atol=1e-5)
    return "l1lab's loop steps on the penalty"


def probe_ftrl() -> str:
    variable = tf.Variable(np.linspace(-0.01, 0.01, 5).astype(np.float32))
    model_var = variable
    if IS_KERAS3:
        model_var = keras.Variable(variable.numpy())
    optimizer = keras.optimizers.Ftrl(0.1, l1_regularization_strength=1.0)
    optimizer.build([model_var])
    optimizer.apply_gradients([(tf.constant(np.full(5, 0.01, np.float32)), model_var)])
    if np.count_nonzero(model_var.numpy()):
        raise AssertionError("Ftrl with l1_regularization_strength left nonzero weights")
    return "keras.optimizers.Ftrl(l1_regularization_strength=...) makes exact zeros"


def _l1lab_optimizers_step(jit_compile: bool) -> str:
    from l1lab.optimizers import ProximalAdagrad, ProximalSGD
    from l1lab.train import CompiledLoop

    for cls in (ProximalSGD, ProximalAdagrad):
        model = _tiny_model()
        optimizer = cls(0.5, l1=0.5)
        optimizer.build(model.trainable_variables)
        step = tf.function(CompiledLoop(model, optimizer, _X, _Y, batch_size=2).train_step, jit_compile=jit_compile)
        step(_X, _Y)
        if not np.any(model.get_layer("dense_1").kernel.numpy() == 0):
            raise AssertionError(f"{cls.__name__} made no exact zero")
    return "ProximalSGD and ProximalAdagrad train" + (" in an XLA-compiled step" if jit_compile else "")


def _kernel_probe(op: str) -> Callable[[], str]:
    def probe() -> str:
        kinds = sorted(k for k in devices.kernel_devices(op) if not k.startswith("XLA"))
        return f"kernels for {', '.join(kinds) or 'no device'}"

    return probe


# name -> (probe, methods that need it to succeed)
PROBES: dict[str, tuple[Callable[[], str], tuple[str, ...]]] = {
    "v1 ProximalAdagrad on Keras variables": (probe_v1_direct, ()),
    "v1 ProximalAdagrad through tf.Variable": (probe_v1_tf_variable, ("proximal-adagrad-tf",)),
    "v1 ProximalAdagrad in model.compile": (probe_v1_compile, ()),
    "L1 regularizer in model.fit": (probe_regularizer_fit, ()),
    "L1 regularizer in l1lab's loop": (probe_regularizer_loop, ("l1-regularizer",)),
    "Keras Ftrl with L1": (probe_ftrl, ("ftrl",)),
    "l1lab optimizers": (lambda: _l1lab_optimizers_step(False), ("proximal-sgd", "proximal-adagrad")),
    "l1lab optimizers under XLA": (lambda: _l1lab_optimizers_step(True), ("proximal-sgd", "proximal-adagrad")),
}


def _run(name: str, probe: Callable[[], str]) -> Probe:
    try:
        return Probe(name, OK, probe())
    except Exception as exc:  # a probe's failure is its finding
        return Probe(name, FAILS, _first_line(exc))


def probes_for(method: str) -> list[Probe]:
    """The probes ``method`` needs to succeed, run (each isolated)."""
    return [_run(name, probe) for name, (probe, methods) in PROBES.items() if method in methods]


def run_probes() -> list[Probe]:
    """Every probe, each isolated: one that raises is reported, the rest still run."""
    from l1lab.methods import METHODS

    report = [
        Probe("Keras", INFO, f"{KERAS_FLAVOUR} ({keras.__name__} {KERAS_VERSION}) on TensorFlow {tf.__version__}"),
        Probe("GPU", INFO, ", ".join(d.name for d in devices.physical_gpus()) or "none present"),
    ]
    for op in (devices.PROXIMAL_ADAGRAD_OP, devices.PROXIMAL_GRADIENT_DESCENT_OP):
        report.append(Probe(f"{op} kernels", INFO, _kernel_probe(op)()))
    report += [_run(name, probe) for name, (probe, _) in PROBES.items()]
    needs: dict[str, list[str]] = {m: [] for m in METHODS}
    for name, (_, methods) in PROBES.items():
        for method in methods:
            needs[method].append(name)
    failed = {p.name for p in report if p.status == FAILS}
    for method, probe_names in needs.items():
        broken = [n for n in probe_names if n in failed]
        report.append(
            Probe(f"method {method}", FAILS if broken else OK, f"broken: {', '.join(broken)}" if broken else "works")
        )
    return report


def broken_methods(report: list[Probe]) -> list[str]:
    return [p.name.removeprefix("method ") for p in report if p.name.startswith("method ") and p.status == FAILS]


def as_json(report: list[Probe]) -> dict:
    return {
        "versions": versions(),
        "probes": [p.as_dict() for p in report],
        "broken_methods": broken_methods(report),
        "ok": not broken_methods(report),
    }


def format_report(report: list[Probe]) -> str:
    return format_table(([p.name, p.status.upper(), p.detail] for p in report), ["probe", "status", "detail"])
