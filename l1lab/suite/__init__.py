"""The validation machinery: scenarios, claims, golden files, TensorFlow lines, reports, doctor, matrix.

==============  ===============================================================
module          its one job
==============  ===============================================================
``scenarios``   the scenarios and their claims (no TensorFlow)
``smoke``       a scenario's smoke test: probes, one epoch on a slice, exact zeros
``plugin``      the pytest plugin: a project's scenarios as tests (``l1lab_scenarios``)
``judge``       verdicts over seeds; a fresh run against a golden file
``compare``     tolerances, mismatches, the failure table
``golden``      the golden file format, reading, writing, identity
``lines``       which golden file a TensorFlow/Keras line is checked against
``record``      writing golden files by training (update, record-line)
``runner``      training scenarios and checking them (``l1lab claims``)
``reports``     claims.json, claims.md, claims.png
``doctor``      probes of the installed stack
``matrix``      the version matrix over tox environments
==============  ===============================================================
"""

from l1lab.config import MethodOptions
from l1lab.suite.scenarios import Claim, Scenario

__all__ = ["Claim", "MethodOptions", "Scenario"]
