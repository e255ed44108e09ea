"""An example project: a small Fashion-MNIST classifier, trained sparse (see sparse_scenarios.py)."""
