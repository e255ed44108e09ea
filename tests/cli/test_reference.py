"""docs/reference.md is the parser's own --help text: regenerate it when a command changes."""

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "cli_reference.py"


def test_the_reference_is_what_the_parser_prints(capsys):
    spec = importlib.util.spec_from_file_location("cli_reference", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    code = tool.main(["--check"])
    assert code == 0, capsys.readouterr().err
    text = tool.REFERENCE.read_text(encoding="utf-8")
    for command in ("train", "claims", "doctor", "matrix", "golden update", "golden record-line", "compact", "sweep"):
        assert f"### `l1lab {command}`" in text
    assert "--scenarios MODULE" in text and "`--l1lab-regen`" in text
