"""Firmware files: the pair compiles with the system's C++ compiler and holds the file byte for byte."""

import shutil
import subprocess

import pytest

from l1lab.edge import c_array

CXX = shutil.which("g++") or shutil.which("c++") or "g++"  # .ci/run installs g++ where it is missing

# Prints every constant and array of the pair, so that the test reads them back as the firmware would.
DUMP = r"""
#include <cstdio>
#include <cstdint>
#include "NAME.h"
int main() {
  if (reinterpret_cast<uintptr_t>(IDENT_model) % 16 != 0) return 3;
  std::printf("%u %u %.9g %d %.9g %d\n", IDENT_model_len, IDENT_arena_bytes, IDENT_input_scale,
              IDENT_input_zero_point, IDENT_output_scale, IDENT_output_zero_point);
  for (unsigned int i = 0; i < IDENT_model_len; ++i) std::printf("%02x", IDENT_model[i]);
  std::printf("\n");
  KEPT
  return 0;
}
"""


def _compile_and_dump(tmp_path, name, kept):
    ident = c_array.identifier(name)
    kept_code = (
        f'for (unsigned int i = 0; i < {ident}_kept_inputs_count; ++i) std::printf("%u ", {ident}_kept_inputs[i]);'
        if kept
        else ""
    )
    (tmp_path / "dump.cc").write_text(DUMP.replace("NAME", name).replace("IDENT", ident).replace("KEPT", kept_code))
    subprocess.run([CXX, "-std=c++17", "-Wall", "-Werror", "-c", f"{name}.cc"], cwd=tmp_path, check=True)
    subprocess.run(
        [CXX, "-std=c++17", "-Wall", "-Werror", "dump.cc", f"{name}.o", "-o", "dump"], cwd=tmp_path, check=True
    )
    return subprocess.run(["./dump"], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.splitlines()


@pytest.mark.parametrize("kept", [None, [3, 17, 400, 783]])
def test_the_pair_compiles_and_holds_the_file_byte_for_byte(tmp_path, kept):
    content = bytes(range(256)) * 3 + b"\x00\x7f"  # every byte value, and a length not a multiple of a line
    name = "dense-784.int8-full"
    paths = c_array.write_sources(
        tmp_path,
        name,
        content,
        arena_bytes=3368,
        input_quantization={"scale": 0.003921568859368563, "zero_point": -128},
        output_quantization={"scale": 0.130429178, "zero_point": -15},
        kept_inputs=kept,
    )
    assert [p.name for p in paths] == [f"{name}.h", f"{name}.cc"]
    lines = _compile_and_dump(tmp_path, name, kept)
    length, arena, in_scale, in_zero, out_scale, out_zero = lines[0].split()
    assert (int(length), int(arena), int(in_zero), int(out_zero)) == (len(content), 3368, -128, -15)
    assert float(in_scale) == pytest.approx(0.003921568859368563, rel=1e-7)
    assert float(out_scale) == pytest.approx(0.130429178, rel=1e-7)
    assert bytes.fromhex(lines[1]) == content
    if kept:
        assert [int(i) for i in lines[2].split()] == kept
    else:
        assert "kept_inputs" not in paths[0].read_text()


@pytest.mark.parametrize(
    "name, ident",
    [("dense-784-64-64-10.int8-full", "dense_784_64_64_10_int8_full"), ("3x.int8-full", "m_3x_int8_full")],
)
def test_a_name_becomes_a_c_identifier(name, ident):
    assert c_array.identifier(name) == ident


def test_an_index_outside_uint16_or_a_bad_arena_is_refused():
    q = {"scale": 1.0, "zero_point": 0}
    with pytest.raises(ValueError, match="uint16_t"):
        c_array.sources("m", b"\x00", arena_bytes=10, input_quantization=q, output_quantization=q, kept_inputs=[70000])
    with pytest.raises(ValueError, match=r"`arena_bytes` needs to be a positive integer. Received: arena_bytes=0"):
        c_array.sources("m", b"\x00", arena_bytes=0, input_quantization=q, output_quantization=q)
