"""Microcontroller boards, their flash and RAM, and whether a model fits (no TensorFlow).

A model fits a board when its file fits the flash and its tensor arena fits
the RAM. Both also hold the firmware itself and TensorFlow Lite Micro's code
(tens of kilobytes of flash, a few of RAM for the interpreter's stack and
globals), which this does not count: the room left is what remains for them.
Sizes are from each part's data sheet, in KiB (1,024 bytes), as data sheets
give them.
"""

from __future__ import annotations

import dataclasses

__all__ = ["BOARDS", "Board", "Fit", "custom_board", "fit"]

KIB = 1024


@dataclasses.dataclass(frozen=True)
class Board:
    """A board: its name for ``--device``, what it is, and its flash and RAM in KiB."""

    name: str
    title: str
    flash_kb: float
    ram_kb: float

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


BOARDS: dict[str, Board] = {
    board.name: board
    for board in (
        Board("nano33-ble-sense", "Arduino Nano 33 BLE Sense (nRF52840, Cortex-M4F, 64 MHz)", 1024, 256),
        Board("nano33-iot", "Arduino Nano 33 IoT (SAMD21G18A, Cortex-M0+, 48 MHz)", 256, 32),
        Board("pico", "Raspberry Pi Pico (RP2040, 2x Cortex-M0+, 133 MHz; 2 MB QSPI flash)", 2048, 264),
        Board("sparkfun-edge", "SparkFun Edge (Apollo3 Blue, Cortex-M4F, 48 MHz)", 1024, 384),
        Board("stm32f746g-disco", "STM32F746G-DISCO (STM32F746NG, Cortex-M7, 216 MHz)", 1024, 320),
    )
}


def check_kib(label: str, value) -> float:
    """``value`` if it is a positive finite number of KiB.

    Raises:
      ValueError: anything else; the message names ``label``.
    """
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0 < value < float("inf")):
        raise ValueError(f"`{label}` needs to be a positive number of KiB. Received: {label}={value!r}")
    return value


def custom_board(flash_kb: float, ram_kb: float) -> Board:
    """A board given by its flash and RAM (``--flash-kb``, ``--ram-kb``).

    Raises:
      ValueError: a size that is not a positive finite number.
    """
    for label, value in (("flash_kb", flash_kb), ("ram_kb", ram_kb)):
        check_kib(label, value)
    return Board("custom", f"a board with {flash_kb:g} KiB of flash and {ram_kb:g} KiB of RAM", flash_kb, ram_kb)


@dataclasses.dataclass(frozen=True)
class Fit:
    """Whether a file and its arena fit a board, and the room left (bytes; negative: missing)."""

    board: str
    fits: bool
    flash_left_bytes: int
    ram_left_bytes: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def fit(board: Board, flash_bytes: int, arena_bytes: int) -> Fit:
    """Whether ``flash_bytes`` of model fit ``board``'s flash and ``arena_bytes`` its RAM."""
    flash_left = int(board.flash_kb * KIB) - int(flash_bytes)
    ram_left = int(board.ram_kb * KIB) - int(arena_bytes)
    return Fit(board.name, flash_left >= 0 and ram_left >= 0, flash_left, ram_left)
