#!/usr/bin/env python3
"""Peer for plate reading: the same two PP-OCRv4 models (text detector and
recogniser, from the same wheel) run by `rapidocr-onnxruntime==1.4.4` in
Python, with its own DB post-processing, crop warping and batched
recognition; one ONNX Runtime thread; direction classifier off (Civitas has
none either); detector sizing as given (shorter side scaled up to MIN_SIDE, as Civitas's `[anpr] detect_min_side_px`).

    peer_rapidocr.py DIR OUT_READS [MIN_SIDE]

MIN_SIDE (default 736, rapidocr's own default) is the detector's
`det_limit_side_len` with `det_limit_type="min"`, as Civitas's
`[anpr] detect_min_side_px`.

Writes every text line it reads as `file<TAB>x0<TAB>y0<TAB>x1<TAB>y1<TAB>confidence<TAB>text`
and `# ms_per_image N` (detect + read, image decoding excluded), for
`civitas eval plates --dir DIR --reads OUT_READS`, which applies the same
plate rules to these reads as to its own.
"""
import sys
import time
from pathlib import Path

import cv2
from rapidocr_onnxruntime import RapidOCR

d, out = Path(sys.argv[1]), Path(sys.argv[2])
side = int(sys.argv[3]) if len(sys.argv) > 3 else 736
ocr = RapidOCR(
    intra_op_num_threads=1,
    inter_op_num_threads=1,
    det_limit_side_len=side,
    det_limit_type="min",
    use_cls=False,
)
files = sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
lines, busy = [], 0.0
for k, f in enumerate(files):
    img = cv2.imread(str(f))
    t0 = time.perf_counter()
    res, _ = ocr(img, use_cls=False)
    busy += time.perf_counter() - t0
    for box, text, score in res or []:
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        text = text.replace("\t", " ")
        lines.append(f"{f.name}\t{min(xs):.1f}\t{min(ys):.1f}\t{max(xs):.1f}\t{max(ys):.1f}\t{float(score):.4f}\t{text}")
    if (k + 1) % max(1, len(files) // 10) == 0:
        print(f"  {k + 1}/{len(files)} images", file=sys.stderr)
lines.append(f"# ms_per_image {1e3 * busy / max(1, len(files)):.2f}")
out.write_text("\n".join(lines) + "\n")
print(f"rapidocr: {len(files)} images, {1e3 * busy / max(1, len(files)):.1f} ms per image", file=sys.stderr)
