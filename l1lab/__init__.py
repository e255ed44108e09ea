"""l1lab: sparse models trained with L1 regularization in TensorFlow.

Importing the package is cheap: TensorFlow is loaded only by the modules that
need it, and always through :mod:`l1lab._compat`, which chooses the Keras
flavour once, before TensorFlow is imported.
"""

__version__ = "0.1.0"
