"""Edge deployment: from a sparse model to one that is smaller and faster on the device.

Where the edge code goes (issue 10): ``structure`` (dead inputs and units,
NumPy only), ``compact`` (a smaller dense model with the same input and
output), ``export`` and ``latency`` (TFLite files and their interpreter),
``frontier`` and ``peers`` (sweeps against TF-MOT and Ftrl). It may import the library and
:mod:`l1lab.runs`; :mod:`l1lab.suite` may import it to make claims about it,
never the reverse.
"""
