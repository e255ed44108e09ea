"""Boards and whether a model fits: flash for the file, RAM for the arena."""

import pytest

from l1lab.edge import boards


def test_the_table_has_the_nano_33_ble_sense_and_a_cortex_m0_plus_board():
    nano = boards.BOARDS["nano33-ble-sense"]
    assert (nano.flash_kb, nano.ram_kb) == (1024, 256)
    assert any("Cortex-M0+" in board.title for board in boards.BOARDS.values())


def test_a_fit_counts_flash_and_ram_in_kib_by_hand():
    nano = boards.BOARDS["nano33-ble-sense"]
    fit = boards.fit(nano, flash_bytes=58_200, arena_bytes=3_368)
    assert fit.fits and fit.flash_left_bytes == 1024 * 1024 - 58_200 and fit.ram_left_bytes == 256 * 1024 - 3_368


@pytest.mark.parametrize(
    "flash, arena, fits",
    [(1024, 1024, True), (1025, 1024, False), (1024, 1025, False)],
)
def test_the_boundary_is_inclusive(flash, arena, fits):
    board = boards.custom_board(flash_kb=1, ram_kb=1)
    result = boards.fit(board, flash, arena)
    assert result.fits is fits and result.flash_left_bytes == 1024 - flash and result.ram_left_bytes == 1024 - arena


@pytest.mark.parametrize("flash, ram", [(0, 1), (1, -2), (float("inf"), 1), (float("nan"), 1)])
def test_a_custom_board_needs_positive_sizes(flash, ram):
    with pytest.raises(ValueError, match="needs to be a positive number of KiB"):
        boards.custom_board(flash, ram)
