#!/usr/bin/env python3
"""Peer 1: the `face_recognition` library (dlib HOG detector, 5-point landmarks,
the same dlib ResNet), on the same inputs as Civitas.

    peer_face_recognition.py pairs PAIRS ROOT OUT_DISTANCES   # per-pair distances (nan = no face)
    peer_face_recognition.py speed FOLDER                     # frames/s over the images in FOLDER
"""
import sys
import time
from pathlib import Path

import face_recognition
import numpy as np


def central_encoding(path):
    img = face_recognition.load_image_file(str(path))
    locs = face_recognition.face_locations(img)
    if not locs:
        return None
    h, w = img.shape[:2]
    loc = min(locs, key=lambda l: (((l[1] + l[3]) / 2 - w / 2) ** 2 + ((l[0] + l[2]) / 2 - h / 2) ** 2))
    e = face_recognition.face_encodings(img, [loc])[0]
    return e / np.linalg.norm(e)  # normalised, as Civitas compares


def read_pairs(pairs, root):
    rows = [l.split() for l in Path(pairs).read_text().splitlines()[1:] if l.strip()]
    img = lambda n, i: Path(root) / n / f"{n}_{int(i):04d}.jpg"
    return [(img(r[0], r[1]), img(r[0], r[2])) if len(r) == 3 else (img(r[0], r[1]), img(r[2], r[3])) for r in rows]


if sys.argv[1] == "pairs":
    cache = {}
    out = []
    for a, b in read_pairs(sys.argv[2], sys.argv[3]):
        for p in (a, b):
            if p not in cache:
                cache[p] = central_encoding(p)
        ea, eb = cache[a], cache[b]
        out.append("nan" if ea is None or eb is None else repr(float(np.linalg.norm(ea - eb))))
    Path(sys.argv[4]).write_text("\n".join(out) + "\n")
else:
    files = sorted(Path(sys.argv[2]).glob("*.png"))
    t = time.perf_counter()
    faces = 0
    for f in files:
        img = face_recognition.load_image_file(str(f))
        locs = face_recognition.face_locations(img)
        faces += len(face_recognition.face_encodings(img, locs))
    dt = time.perf_counter() - t
    print(f'{{"peer": "face_recognition", "frames": {len(files)}, "faces": {faces}, "fps": {len(files) / dt:.3f}}}')
