"""Edge deployment: from a sparse model to one that is smaller and faster on the device.

``model_file`` (reading and refusing model files), ``compact`` (a smaller dense
model with the same input and output), ``agreement`` (how close two models'
outputs are), ``export`` and ``latency`` (TFLite files and their interpreter),
``callbacks`` (sparsity in ``model.fit``'s logs), ``peers`` (TF-MOT's magnitude
pruning) and ``sweep`` (the frontier against TF-MOT and Ftrl). It may import the
library and the experiment modules; :mod:`l1lab.suite` may import it to make
claims about it, never the reverse.
"""
