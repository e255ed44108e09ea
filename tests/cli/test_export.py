"""l1lab export for microcontrollers: int8-full in TFLM, firmware files, boards; its refusals, before any work."""

import json

import pytest

from l1lab import cli
from tests.cli.helpers import run_cli


@pytest.fixture(scope="module")
def compacted_model_file(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    argv = ["train", "--method", "proximal-sgd", "--pixel-scale", "unit", "--learning-rate", "0.05", "--l1", "0.02"]
    argv += ["--group-l1", "2e-3", "--numEpochs", "2", "--numSamples", "1000", "--quiet"]
    assert cli.main([*argv, "--save-model", str(directory / "sparse.keras")]) == 0
    compact = ["compact", str(directory / "sparse.keras"), "--out", str(directory / "small.keras"), "--pixel-scale"]
    assert cli.main([*compact, "unit"]) == 0
    return directory / "small.keras"


def test_micro_export_runs_int8_full_in_tflm_and_writes_firmware_files(capsys, compacted_model_file, tmp_path):
    out_dir = tmp_path / "fw"
    argv = ["export", str(compacted_model_file), "--out-dir", str(out_dir), "--pixel-scale", "unit"]
    argv += ["--runtime", "micro", "--format", "int8-full", "--format", "int8", "--c-array"]
    argv += ["--device", "nano33-ble-sense", "--flash-kb", "16", "--ram-kb", "2", "--calibration", "200", "--json"]
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 0, err
    report = json.loads(stdout)
    assert report == json.loads((out_dir / "export.json").read_text())
    assert report["runtimes"] == ["micro"] and report["calibration"]["images"] == 200
    assert "not a device figure" in report["micro_note"]
    rows = {(r["model"], r["format"]): r for r in report["files"]}
    full = rows["small", "int8-full"]
    assert full["micro"]["runs"] and full["micro_check"]["agrees"] and full["micro_check"]["runtime"] == "micro"
    assert full["micro_check"]["same_predictions"] >= 9900  # at least 99% of MNIST's test file
    assert abs(full["micro_check"]["file_accuracy"] - full["micro_check"]["keras_accuracy"]) < 0.01
    assert full["quantization"]["input"]["zero_point"] == -128
    assert full["micro_times_faster"] > 1 and full["latency"] is None  # micro only: no desktop timing
    fits = {f["board"]: f for f in full["fits"]}
    assert fits["nano33-ble-sense"]["fits"] and not fits["custom"]["fits"]  # 2 KiB of RAM is too little
    # Every file has its TFLM row (tests/edge/test_micro.py: the files TFLM refuses, with its reasons).
    assert all(row["micro"] is not None for row in rows.values()) and set(rows) >= {("small", "int8")}
    header = (out_dir / "small.int8-full.h").read_text()
    assert f"small_int8_full_arena_bytes = {full['micro']['arena_bytes']};" in header
    assert "small_int8_full_kept_inputs_count" in header
    assert (out_dir / "small.int8-full.tflite").read_bytes()[:8].hex() in (
        out_dir / "small.int8-full.cc"
    ).read_text().replace("0x", "").replace(", ", "")
    assert report["c_arrays"] == [str(out_dir / "small.int8-full.h"), str(out_dir / "small.int8-full.cc")]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--flash-kb", "16"], "--flash-kb and --ram-kb go together"),
        (["--ram-kb", "0"], "argument --ram-kb: '0': a size needs to be a positive number of KiB"),
        (["--device", "esp8266"], "invalid choice: 'esp8266'"),
        (["--runtime", "phone"], "invalid choice: 'phone'"),
        (["--calibration", "0"], "argument --calibration: 0 must be >= 1"),
    ],
)
def test_bad_micro_flags_are_refused_in_one_line_before_any_work(capsys, tmp_path, extra, message):
    model = tmp_path / "a.keras"
    model.write_bytes(b"never read")
    try:
        code, _, err = run_cli(capsys, "export", str(model), "--out-dir", str(tmp_path / "out"), *extra)
    except SystemExit as exc:  # argparse's own refusals
        code, err = exc.code, capsys.readouterr().err
    assert code == 2 and message in err, err
    assert err.strip().splitlines()[-1].startswith("l1lab") and message in err.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()


def test_without_tflite_micro_micro_flags_say_how_to_install_it(capsys, tmp_path, monkeypatch):
    from l1lab.edge import micro

    def missing():
        raise micro.MicroUnavailable("TensorFlow Lite Micro's Python interpreter (tflite-micro) is not installed: fix")

    monkeypatch.setattr(micro, "require", missing)
    model = tmp_path / "a.keras"
    model.write_bytes(b"never read")
    code, _, err = run_cli(capsys, "export", str(model), "--out-dir", str(tmp_path / "out"), "--c-array")
    assert code == 2 and "--runtime micro, --c-array and --device run TFLM: TensorFlow Lite Micro" in err


def test_a_firmware_file_that_is_a_directory_is_refused_before_any_work(capsys, tmp_path):
    model = tmp_path / "a.keras"
    model.write_bytes(b"never read")
    (tmp_path / "out" / "a.int8-full.h").mkdir(parents=True)
    code, _, err = run_cli(capsys, "export", str(model), "--out-dir", str(tmp_path / "out"), "--c-array")
    assert code == 2 and "--out-dir's a.int8-full.h" in err and "is a directory" in err


def test_more_calibration_images_than_the_training_set_is_refused_naming_the_flag(
    capsys, compacted_model_file, tmp_path
):
    argv = ["export", str(compacted_model_file), "--out-dir", str(tmp_path / "out"), "--pixel-scale", "unit"]
    code, _, err = run_cli(capsys, *argv, "--calibration", "60000")
    assert (
        code == 2
        and "--calibration needs to be an integer from 1 to 50000" in err
        and "Received: --calibration 60000" in err
    )
    assert not any((tmp_path / "out").glob("*.tflite"))


def test_a_cnn_exports_against_its_zoo_counterpart_in_tflm(capsys, tmp_path):
    """No --reference: the dense zoo model it came from is the reference; int8-full runs in TFLM."""
    path = tmp_path / "cnn.keras"
    data = ["--dataset", "fashion-mnist", "--pixel-scale", "unit"]
    code, _, err = run_cli(
        capsys, "train", "--model", "tfmot-cnn", *data, "--split", "standard", "--num-samples", "500", "--epochs",
        "2", "--learning-rate", "0.1", "--save-model", str(path), "--quiet",
    )  # fmt: skip
    assert code == 0, err  # trained a little: an untrained model's logits tie, and int8 flips the ties
    out_dir = tmp_path / "out"
    code, out, err = run_cli(
        capsys, "export", str(path), "--out-dir", str(out_dir), *data, "--format", "int8-full", "--runtime", "micro",
        "--no-latency", "--calibration", "100", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    files = {(entry["model"], entry["format"]): entry for entry in report["files"]}
    assert report["reference"] == "dense-tfmot-cnn" and ("dense-tfmot-cnn", "int8-full") in files
    assert files[("cnn", "int8-full")]["micro"]["runs"] and files[("cnn", "int8-full")]["check"]["agrees"]
    assert (out_dir / "cnn.int8-full.tflite").is_file()
    assert report["inputs"] == "Fashion-MNIST's test file (10000 images)"
