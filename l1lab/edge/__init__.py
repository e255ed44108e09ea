"""Edge deployment: from a sparse model to one that is smaller and faster on the device.

``model_file`` (reading and refusing model files), ``compact`` (a smaller dense
model with the same input and output), ``agreement`` (how close two models'
outputs are), ``convert`` (TFLite files in five formats, int8-full's
calibration), ``int8_io`` (an int8 tensor's scale and zero point), ``export``
and ``latency`` (the files checked and timed, the desktop interpreter),
``micro`` and ``micro_worker`` (TensorFlow Lite Micro: runs, arena, latency),
``c_array`` (firmware sources), ``boards`` (whether a file fits a
microcontroller), ``callbacks`` (sparsity in ``model.fit``'s logs), ``peers``
(TF-MOT's magnitude pruning) and ``sweep`` (the frontier against TF-MOT and Ftrl). It may import the
library and the experiment modules; :mod:`l1lab.suite` may import it to make
claims about it, never the reverse.
"""
