"""The int8 inputs and outputs of a full-integer model: their scale and zero point (NumPy only).

A full-integer file (``int8-full``) takes and gives int8 tensors. Each carries
one affine quantization, a real value being

.. math::

   r = s \\, (q - z), \\qquad q \\in \\{-128, \\dots, 127\\},

with scale :math:`s > 0` and zero point :math:`z`. Firmware quantizes its
sensor values with the input's pair and reads the output's with the other;
both interpreters (the desktop one and TensorFlow Lite Micro) report them in
the same ``quantization_parameters`` dictionary.

References:
  TensorFlow Lite 8-bit quantization specification:
  https://ai.google.dev/edge/litert/models/quantization_spec
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Quantization", "dequantize", "from_details", "quantize"]


@dataclasses.dataclass(frozen=True)
class Quantization:
    """One tensor's int8 quantization: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def from_details(details: dict) -> Quantization | None:
    """The quantization of an interpreter's tensor details, or None for a float tensor.

    Reads ``quantization_parameters`` (per-tensor: one scale) where the tensor's
    dtype is int8, as the desktop interpreter and TFLM both report it.
    """
    if np.dtype(details["dtype"]) != np.int8:
        return None
    parameters = details["quantization_parameters"]
    return Quantization(float(parameters["scales"][0]), int(parameters["zero_points"][0]))


def quantize(x, quantization: Quantization) -> np.ndarray:
    """``round(x / scale) + zero_point``, clipped to int8's range."""
    q = np.round(np.asarray(x, np.float64) / quantization.scale) + quantization.zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q, quantization: Quantization) -> np.ndarray:
    """``scale * (q - zero_point)`` as float32."""
    return (quantization.scale * (np.asarray(q, np.float64) - quantization.zero_point)).astype(np.float32)
