"""How many calibration images an int8-full file needs: its outputs and classes against Keras's.

For each count, the model is converted to ``int8-full`` calibrated on that many
training images (seed 0, :func:`l1lab.edge.convert.calibration_images`), run in
the desktop interpreter on MNIST's test file, and compared with the Keras
model: the largest output error as a share of the outputs' scale, the share of
predicted classes that agree, and the accuracy change. Run::

    python benchmarks/bench_calibration.py MODEL.keras [--pixel-scale unit] [--counts 10,100,300,1000,3000]
"""

from __future__ import annotations

import argparse
import sys
import time

from l1lab import data
from l1lab.edge import convert, export, model_file


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--pixel-scale", choices=data.PIXEL_SCALES, default="raw")
    parser.add_argument("--counts", default="10,100,300,1000,3000")
    args = parser.parse_args(argv)
    model = model_file.load(args.model)
    mnist = data.load_mnist(pixel_scale=args.pixel_scale)
    x, y = mnist.x_heldout, mnist.y_heldout
    print("| calibration images | convert s | max error / scale | classes agree | accuracy change |")
    print("|---:|---:|---:|---:|---:|")
    for count in (int(c) for c in args.counts.split(",")):
        start = time.perf_counter()
        content = convert.to_tflite(model, "int8-full", calibration=convert.calibration_images(mnist.x_train, count))
        seconds = time.perf_counter() - start
        check = export.check(model, content, "int8-full", x, labels=y)
        print(
            f"| {count} | {seconds:.1f} | {check.max_abs_diff / check.output_scale:.3f} | "
            f"{check.same_predictions / check.examples:.2%} | {check.file_accuracy - check.keras_accuracy:+.2%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
