#!/usr/bin/env python3
"""Computes reference descriptors with dlib itself, for the converter test.

For each photo: dlib's HOG detector, its 5-point landmark model and
`get_face_chip(size=150, padding=0.25)` make the 150x150 chip dlib's own
pipeline would embed; the chip is saved as PNG and dlib's descriptor of that
chip (`compute_face_descriptor(chip)`) is written to descriptors.json.
The Rust test feeds the same PNG chips to the converted ONNX model.

Made with (dlib-bin 20.0.1.post1, face_recognition_models 0.3.0 from PyPI):
    var/venv/bin/python scripts/dlib_reference.py var/testdata/face_recognition \
        var/models/face_recognition_models testdata/dlib_reference
"""
import json
import sys
from pathlib import Path

import dlib
import numpy as np
from PIL import Image

images, models, out = (Path(a) for a in sys.argv[1:4])
out.mkdir(parents=True, exist_ok=True)
detector = dlib.get_frontal_face_detector()
sp = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
rec = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
result = {"dlib_version": dlib.__version__, "chips": {}}
for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]:
    img = np.array(Image.open(images / name).convert("RGB"))
    dets = detector(img, 1)
    assert len(dets) == 1, (name, len(dets))
    shape = sp(img, dets[0])
    chip = dlib.get_face_chip(img, shape, size=150, padding=0.25)
    chip_name = name.rsplit(".", 1)[0] + "_chip.png"
    Image.fromarray(chip).save(out / chip_name)
    # Re-read the PNG so the descriptor is of exactly the bytes the test reads.
    chip = np.array(Image.open(out / chip_name).convert("RGB"))
    d = np.array(rec.compute_face_descriptor(chip))
    result["chips"][chip_name] = [float(x) for x in d]
(out / "descriptors.json").write_text(json.dumps(result, indent=1) + "\n")
print("wrote", len(result["chips"]), "reference descriptors to", out)
