"""l1lab doctor, and today's known behaviours of TensorFlow and Keras, pinned.

When a future TensorFlow changes one of these, the test says what changed and
what to do, instead of a method silently starting (or stopping) to work.
"""

import json

import pytest

from l1lab import cli
from l1lab._compat import IS_KERAS3
from l1lab.suite import doctor


@pytest.fixture(scope="module")
def report():
    return {p.name: p for p in doctor.run_probes()}


# (probe, status on Keras 3, status on Keras 2, what the status on Keras 3 means, what to do if it changes)
KNOWN = [
    (
        "v1 ProximalAdagrad on Keras variables",
        doctor.FAILS,
        doctor.OK,
        "Keras 3 variables lack get_shape, so TF's v1 optimizers cannot take them",
        "if it now works, proximal-adagrad-tf could drop its tf.Variable unwrapping (methods.V1OptimizerAdapter)",
    ),
    (
        "v1 ProximalAdagrad in model.compile",
        doctor.FAILS,
        doctor.OK,
        "Keras 3's compile rejects tf.compat.v1.train optimizers",
        "if it now works, update docs/reproduce.md and docs/article.md; l1lab's loop does not use compile for it",
    ),
    (
        "v1 ProximalAdagrad through tf.Variable",
        doctor.OK,
        doctor.OK,
        "proximal-adagrad-tf works by handing the optimizer each variable's tf.Variable",
        "if it broke, proximal-adagrad-tf (the article's Try2/Try3) no longer works: find a new way in",
    ),
    ("L1 regularizer in model.fit", doctor.OK, doctor.OK, "fit adds model.losses to the loss", "investigate Keras"),
    ("L1 regularizer in l1lab's loop", doctor.OK, doctor.OK, "l1lab adds model.losses itself", "fix train.py"),
    ("Keras Ftrl with L1", doctor.OK, doctor.OK, "Ftrl's L1 makes exact zeros", "the ftrl method is broken"),
    ("l1lab optimizers under XLA", doctor.OK, doctor.OK, "the whole step compiles", "fix optimizers.py"),
]


@pytest.mark.parametrize("probe, keras3, keras2, meaning, todo", KNOWN, ids=[k[0] for k in KNOWN])
def test_known_behaviour(report, probe, keras3, keras2, meaning, todo):
    expected = keras3 if IS_KERAS3 else keras2
    found = report[probe]
    assert found.status == expected, (
        f"CHANGED: '{probe}' now {found.status.upper()} ({found.detail}); it was {expected.upper()} on "
        f"{'Keras 3' if IS_KERAS3 else 'Keras 2'} ({meaning}). To do: {todo}."
    )


@pytest.mark.skipif(not IS_KERAS3, reason="Keras 2 takes the v1 optimizer: there is no failure message to pin")
def test_known_failure_messages(report):
    assert "get_shape" in report["v1 ProximalAdagrad on Keras variables"].detail
    assert "Could not interpret optimizer identifier" in report["v1 ProximalAdagrad in model.compile"].detail


def test_every_method_works_here(report):
    from l1lab.methods import METHODS

    assert {f"method {m}" for m in METHODS} <= set(report)
    assert doctor.broken_methods(list(report.values())) == []


def test_doctor_cli_table_and_json(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["probe", "status", "detail"]
    assert "method proximal-adagrad-tf" in out
    assert cli.main(["doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["broken_methods"] == []
    assert data["versions"]["tensorflow"] and any(p["name"] == "Keras" for p in data["probes"])


def test_doctor_exits_1_naming_what_broke(capsys, monkeypatch):
    def broken():
        raise RuntimeError("no XLA here")

    probes = dict(doctor.PROBES)
    probes["l1lab optimizers under XLA"] = (broken, probes["l1lab optimizers under XLA"][1])
    monkeypatch.setattr(doctor, "PROBES", probes)
    assert cli.main(["doctor"]) == 1
    out, err = capsys.readouterr()
    assert "RuntimeError: no XLA here" in out
    assert "proximal-sgd, proximal-adagrad" in err
