#!/usr/bin/env python3
"""Peer 2: the same pipeline as Civitas (SCRFD, similarity alignment to dlib's
chip template, the converted dlib ResNet with mirror averaging) in Python with
NumPy, Pillow and the `onnxruntime` package (one intra-op thread).

    peer_onnxruntime.py MODELS_DIR pairs PAIRS ROOT OUT_DISTANCES
    peer_onnxruntime.py MODELS_DIR speed FOLDER [SCRFD_ONNX HEIGHT]

With SCRFD_ONNX and HEIGHT (from `civitas models patch-scrfd`) the detector
takes 640 x HEIGHT, as Civitas does for landscape frames.
"""
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

models = Path(sys.argv[1])
so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.inter_op_num_threads = 1
SCRFD, IN_H = (sys.argv[4], int(sys.argv[5])) if sys.argv[2] == "speed" and len(sys.argv) > 5 else (str(models / "scrfd.onnx"), 640)
det = ort.InferenceSession(SCRFD, so, providers=["CPUExecutionProvider"])
emb = ort.InferenceSession(str(models / "dlib_face_recognition_resnet_model_v1.onnx"), so, providers=["CPUExecutionProvider"])
TEMPLATE = np.array([[46.24, 45.46], [102.96, 45.97], [76.28, 78.82], [49.06, 103.72], [98.41, 104.15]], np.float32)


def detect(img, thresh=0.5, nms=0.4):
    w, h = img.size
    in_h = IN_H if w > h else 640
    ratio = max(w / 640, h / in_h)
    nw, nh = max(1, round(w / ratio)), max(1, round(h / ratio))
    blob = np.zeros((in_h, 640, 3), np.float32)
    blob[:nh, :nw] = np.asarray(img.resize((nw, nh), Image.BILINEAR), np.float32)
    blob = ((blob - 127.5) / 128).transpose(2, 0, 1)[None]
    outs = dict(zip([o.name for o in det.get_outputs()], det.run(None, {"input.1": blob})))
    boxes, scores, kps = [], [], []
    for s in (8, 16, 32):
        sc = outs[f"score_{s}"].reshape(-1)
        bb = outs[f"bbox_{s}"].reshape(-1, 4) * s
        kp = outs[f"kps_{s}"].reshape(-1, 10) * s
        cells = 640 // s
        ys, xs = np.mgrid[:in_h // s, :cells]
        centres = np.repeat(np.stack([xs.ravel(), ys.ravel()], 1) * s, 2, axis=0).astype(np.float32)
        keep = sc >= thresh
        c = centres[keep]
        boxes.append(np.concatenate([c - bb[keep, :2], c + bb[keep, 2:]], 1) * ratio)
        kps.append((np.tile(c, 5) + kp[keep]).reshape(-1, 5, 2) * ratio)
        scores.append(sc[keep])
    boxes, scores, kps = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0]); yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2]); yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        iou = inter / (area(boxes[i]) + area(boxes[order[1:]]) - inter)
        order = order[1:][iou <= nms]
    return boxes[keep], kps[keep]


def chip(img, lm):
    src, dst = lm - lm.mean(0), TEMPLATE - TEMPLATE.mean(0)
    den = (src ** 2).sum()
    a = (src * dst).sum() / den
    b = (src[:, 0] * dst[:, 1] - src[:, 1] * dst[:, 0]).sum() / den
    t = TEMPLATE.mean(0) - np.array([a * lm.mean(0)[0] - b * lm.mean(0)[1], b * lm.mean(0)[0] + a * lm.mean(0)[1]])
    # PIL wants the inverse map (output -> input).
    d = a * a + b * b
    ia, ib = a / d, -b / d
    itx, ity = -(ia * t[0] - ib * t[1]), -(ib * t[0] + ia * t[1])
    return np.asarray(img.transform((150, 150), Image.AFFINE, (ia, -ib, itx, ib, ia, ity), Image.BILINEAR), np.float32)


def embed(img, lms):
    if len(lms) == 0:
        return np.zeros((0, 128), np.float32)
    chips = np.stack([chip(img, lm) for lm in lms])
    x = np.concatenate([chips, chips[:, :, ::-1]]).transpose(0, 3, 1, 2).copy()
    d = emb.run(None, {"chip_rgb": x})[0]
    n = len(lms)
    v = (d[:n] + d[n:]) / 2
    return v / np.linalg.norm(v, axis=1, keepdims=True)


if sys.argv[2] == "pairs":
    rows = [l.split() for l in Path(sys.argv[3]).read_text().splitlines()[1:] if l.strip()]
    root = Path(sys.argv[4])
    img = lambda n, i: root / n / f"{n}_{int(i):04d}.jpg"
    cache, out = {}, []
    for r in rows:
        a, b = (img(r[0], r[1]), img(r[0], r[2])) if len(r) == 3 else (img(r[0], r[1]), img(r[2], r[3]))
        for p in (a, b):
            if p not in cache:
                im = Image.open(p).convert("RGB")
                boxes, lms = detect(im)
                if len(boxes) == 0:
                    cache[p] = None
                else:
                    c = ((boxes[:, :2] + boxes[:, 2:]) / 2 - np.array(im.size) / 2)
                    k = int((c ** 2).sum(1).argmin())
                    cache[p] = embed(im, lms[k:k + 1])[0]
        out.append("nan" if cache[a] is None or cache[b] is None else repr(float(np.linalg.norm(cache[a] - cache[b]))))
    Path(sys.argv[5]).write_text("\n".join(out) + "\n")
else:
    files = sorted(Path(sys.argv[3]).glob("*.png"))
    t = time.perf_counter()
    faces = 0
    for f in files:
        im = Image.open(f).convert("RGB")
        boxes, lms = detect(im)
        faces += len(embed(im, lms))
    dt = time.perf_counter() - t
    name = "python-onnxruntime" + ("" if IN_H == 640 else f"-640x{IN_H}")
    print(f'{{"peer": "{name}", "frames": {len(files)}, "faces": {faces}, "fps": {len(files) / dt:.3f}}}')
