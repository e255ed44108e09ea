"""Firmware files: a ``.tflite`` model as a C++ header and source, with what firmware needs to run it.

For ``NAME.int8-full.tflite`` this writes ``NAME.int8-full.h`` and
``NAME.int8-full.cc``. With ``ID`` the name as a C identifier
(:func:`identifier`), they hold:

- ``ID_model``: the file byte for byte, an ``alignas(16) const unsigned char``
  array (TFLM reads the flatbuffer in place: its tensors need the alignment),
  and ``ID_model_len``, its length;
- ``ID_arena_bytes``: the smallest tensor arena that allocates in TFLM
  (declare ``alignas(16) uint8_t tensor_arena[ID_arena_bytes]``);
- ``ID_input_scale``, ``ID_input_zero_point``, ``ID_output_scale``,
  ``ID_output_zero_point``: ``q = round(x / scale) + zero_point`` on the way in,
  ``x = scale * (q - zero_point)`` on the way out;
- for a compacted model, ``ID_kept_inputs`` (``const uint16_t``, ascending)
  and ``ID_kept_inputs_count``: the input features the model reads, so that
  firmware reads only those pixels from its sensor and writes them at those
  positions of the input tensor (the model's first operation gathers them).

References:
  TFLM's model conversion guide (``xxd -i``, alignment):
  https://github.com/tensorflow/tflite-micro/blob/main/tensorflow/lite/micro/docs/new_platform_support.md
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from l1lab._io import write_text_atomically

__all__ = ["BYTES_PER_LINE", "identifier", "sources", "write_sources"]

BYTES_PER_LINE = 12

# Names a model could have that C++ reserves.
_CPP_KEYWORDS = {"alignas", "auto", "char", "class", "const", "delete", "float", "int", "new", "template", "this"}


def identifier(name: str) -> str:
    """``name`` as a C identifier: every other character an underscore, a leading digit prefixed ``m_``."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name)
    if not ident or ident[0].isdigit() or ident in _CPP_KEYWORDS:
        ident = "m_" + ident
    return ident


def _array_body(items: Sequence[str]) -> str:
    """An array initializer's lines: :data:`BYTES_PER_LINE` items each, indented, each ending with a comma."""
    return "\n".join(
        "    " + ", ".join(items[start : start + BYTES_PER_LINE]) + ","
        for start in range(0, len(items), BYTES_PER_LINE)
    )


def _float_literal(value: float) -> str:
    return f"{float(value)!r}f"


def sources(
    name: str,
    content: bytes,
    *,
    arena_bytes: int,
    input_quantization: dict,
    output_quantization: dict,
    kept_inputs: Sequence[int] | None = None,
    file_name: str | None = None,
) -> tuple[str, str]:
    """``(header, source)``: the text of ``NAME.h`` and ``NAME.cc`` for the model ``content``.

    Args:
      name: the files' name less ``.h``/``.cc`` (``dense.int8-full``).
      content: the ``.tflite`` file's bytes.
      arena_bytes: the smallest arena that allocates (:mod:`l1lab.edge.micro`).
      input_quantization, output_quantization: ``{"scale", "zero_point"}``.
      kept_inputs: a compacted model's kept input features, or None.
      file_name: the ``.tflite`` file named in the comments.

    Returns:
      The two files' text.

    Raises:
      ValueError: an index outside ``uint16_t``, or an arena that is not positive.
    """
    if not (isinstance(arena_bytes, int) and arena_bytes > 0):
        raise ValueError(f"`arena_bytes` needs to be a positive integer. Received: arena_bytes={arena_bytes!r}")
    ident = identifier(name)
    guard = ident.upper() + "_H_"
    where = file_name or f"{name}.tflite"
    lines = [
        f"// {name}.h: {where} for TensorFlow Lite Micro, written by l1lab export --c-array.",
        f"// Its arena: alignas(16) uint8_t tensor_arena[{ident}_arena_bytes];",
        "// int8 input: q = round(x / scale) + zero_point; int8 output: x = scale * (q - zero_point).",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <cstdint>",
        "",
        f"extern const unsigned char {ident}_model[];",
        f"extern const unsigned int {ident}_model_len;",
        f"constexpr unsigned int {ident}_arena_bytes = {arena_bytes};",
        f"constexpr float {ident}_input_scale = {_float_literal(input_quantization['scale'])};",
        f"constexpr int {ident}_input_zero_point = {int(input_quantization['zero_point'])};",
        f"constexpr float {ident}_output_scale = {_float_literal(output_quantization['scale'])};",
        f"constexpr int {ident}_output_zero_point = {int(output_quantization['zero_point'])};",
    ]
    body = [
        f"// {name}.cc: {where}, byte for byte ({len(content)} bytes), written by l1lab export --c-array.",
        f'#include "{name}.h"',
        "",
        f"alignas(16) const unsigned char {ident}_model[] = {{",
        _array_body([f"0x{b:02x}" for b in content]),
        "};",
        f"const unsigned int {ident}_model_len = {len(content)};",
    ]
    if kept_inputs is not None:
        kept = [int(i) for i in kept_inputs]
        if any(not 0 <= i <= 0xFFFF for i in kept):
            raise ValueError("`kept_inputs` need to fit in uint16_t (0 to 65535). Received: an index outside")
        lines += [
            "",
            "// The input features the model reads (ascending): read only these from the sensor.",
            f"constexpr unsigned int {ident}_kept_inputs_count = {len(kept)};",
            f"extern const uint16_t {ident}_kept_inputs[{len(kept)}];",
        ]
        body += [
            "",
            f"const uint16_t {ident}_kept_inputs[{len(kept)}] = {{",
            _array_body([str(i) for i in kept]),
            "};",
        ]
    lines += ["", f"#endif  // {guard}", ""]
    body.append("")
    return "\n".join(lines), "\n".join(body)


def write_sources(out_dir, name: str, content: bytes, **details) -> tuple[Path, Path]:
    """Writes ``out_dir/NAME.h`` and ``out_dir/NAME.cc`` atomically (:func:`sources` takes ``details``).

    Returns:
      The two paths written.
    """
    header, source = sources(name, content, **details)
    out_dir = Path(out_dir)
    return (
        write_text_atomically(out_dir / f"{name}.h", header),
        write_text_atomically(out_dir / f"{name}.cc", source),
    )
