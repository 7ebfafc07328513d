#!/usr/bin/env python3
"""Detection recall and time of the plate-specific detector in the PyPI
package `platedet==0.0.2` (a YOLOv8 segmentation network, fp16, AGPL-3.0 per
its metadata) on a labelled plate set, for the choice of plate finder in
BENCHMARKS.md. Runs the packaged model through onnxruntime as the package
does (letterbox to its input size, fp16 input), one thread, boxes only.

    platedet_recall.py PLATEDET_ONNX DIR [CONF]

A plate counts as found when a box holds the centre of its labelled box.
"""
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

model, d = sys.argv[1], Path(sys.argv[2])
conf = float(sys.argv[3]) if len(sys.argv) > 3 else 0.25
so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.inter_op_num_threads = 1
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
inp = sess.get_inputs()[0]
H, W = inp.shape[-2:]
dtype = np.float16 if "float16" in inp.type else np.float32
found = n = 0
busy = 0.0
for txt in sorted(d.glob("*.txt")):
    name, x, y, w, h, _ = txt.read_text().strip().split("\t")
    cx, cy = float(x) + float(w) / 2, float(y) + float(h) / 2
    img = cv2.imread(str(d / name))
    t0 = time.perf_counter()
    r = min(H / img.shape[0], W / img.shape[1])
    nw, nh = int(round(img.shape[1] * r)), int(round(img.shape[0] * r))
    pw, ph = (W - nw) / 2, (H - nh) / 2
    im = cv2.copyMakeBorder(cv2.resize(img, (nw, nh)), int(round(ph - 0.1)), int(round(ph + 0.1)),
                            int(round(pw - 0.1)), int(round(pw + 0.1)), cv2.BORDER_CONSTANT, value=(114, 114, 114))
    x_in = (np.ascontiguousarray(np.einsum("HWC->CHW", im), dtype=np.float32) / 255.0)[None].astype(dtype)
    preds = sess.run(None, {inp.name: x_in})
    busy += time.perf_counter() - t0
    p = np.einsum("BCN->BNC", preds[0].astype(np.float32))[0]
    scores = p[:, 4:-32].max(axis=1)
    boxes = p[scores > conf, :4]
    hit = False
    for bx, by, bw, bh in boxes:
        x0, y0 = (bx - bw / 2 - pw) / r, (by - bh / 2 - ph) / r
        x1, y1 = (bx + bw / 2 - pw) / r, (by + bh / 2 - ph) / r
        hit |= x0 <= cx <= x1 and y0 <= cy <= y1
    found += hit
    n += 1
print(f"platedet: {found}/{n} found ({100 * found / max(n, 1):.1f}%), {1e3 * busy / max(n, 1):.1f} ms per image (input {W}x{H}, {np.dtype(dtype).name})")
