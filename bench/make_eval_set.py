#!/usr/bin/env python3
"""Builds a small LFW-style face-verification set from the real photos that
ship in registry packages (scripts/setup installs them under var/testdata).

No public face-verification data set is reachable here, so this set is made of
17 identities (Obama with 3 distinct photos; Biden, Newton, Gauss, Eileen Collins
with 1 each; 12 physicists cropped from the grayscale Solvay 1927 photo, located
with face_recognition's HOG detector) and, for each photo, VIEWS renditions under camera-like
degradations: downscaling to CCTV face sizes, JPEG compression, brightness and
contrast shifts, blur, small rotations and mirroring. Same-person pairs within
one photo's views are easier than across photos; the pairs file mixes both.
Writes ROOT/<name>/<name>_NNNN.jpg and ROOT/pairs.txt (10 folds).

    python bench/make_eval_set.py var/testdata var/eval/faces
"""
import random
import sys
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter

src, out = Path(sys.argv[1]), Path(sys.argv[2])
VIEWS = 8
PHOTOS = {
    "Barack_Obama": ["face_recognition/obama.jpg", "face_recognition/obama2.jpg", "face_recognition/obama3.jpg"],
    "Joe_Biden": ["face_recognition/biden.jpg"],
    "Isaac_Newton": ["scrfd/newton.png"],
    "Carl_Gauss": ["scrfd/gauss.png"],
    "Eileen_Collins": ["skimage/astronaut.png"],
}
rng = random.Random(1927)


def view(img, k):
    if k == 0:
        return img
    w, h = img.size
    s = rng.uniform(0.12, 0.7) if w > 400 else rng.uniform(0.5, 1.2)
    img = img.resize((max(64, int(w * s)), max(64, int(h * s))), Image.BILINEAR)
    img = img.rotate(rng.uniform(-10, 10), resample=Image.BILINEAR, expand=False, fillcolor=(0, 0, 0))
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.6, 1.3))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.7, 1.2))
    if rng.random() < 0.4:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img


import face_recognition  # noqa: E402  (only to locate the Solvay faces)

solvay = Image.open(src / "scrfd/solvay_conference_1927.jpg").convert("RGB")
locs = sorted(face_recognition.face_locations(__import__("numpy").asarray(solvay)), key=lambda l: (l[0] // 300, l[3]))
SOLVAY = {}
for k, (t, r, b, l) in enumerate(locs[:12]):
    m = (b - t)
    SOLVAY[f"Solvay_Physicist_{k + 1:02d}"] = solvay.crop((l - m, t - m, r + m, b + m))

images = {}
for name, photos in list(PHOTOS.items()) + [(n, [None]) for n in SOLVAY]:
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    n = 0
    images[name] = []
    for p in photos:
        base = SOLVAY[name] if p is None else Image.open(src / p).convert("RGB")
        for k in range(VIEWS):
            n += 1
            view(base, k).save(d / f"{name}_{n:04d}.jpg", quality=rng.randint(35, 90))
            images[name].append((n, p))

same, diff = [], []
names = list(images)
for name, imgs in images.items():
    for i in range(len(imgs)):
        for j in range(i + 1, len(imgs)):
            same.append((name, imgs[i][0], imgs[j][0]))
for a in range(len(names)):
    for b in range(a + 1, len(names)):
        for i, _ in images[names[a]]:
            for j, _ in images[names[b]]:
                diff.append((names[a], i, names[b], j))
rng.shuffle(same)
rng.shuffle(diff)
per_fold = min(len(same), len(diff)) // 10
lines = [f"10 {per_fold}"]
for f in range(10):
    for s in same[f * per_fold:(f + 1) * per_fold]:
        lines.append(f"{s[0]}\t{s[1]}\t{s[2]}")
    for d in diff[f * per_fold:(f + 1) * per_fold]:
        lines.append(f"{d[0]}\t{d[1]}\t{d[2]}\t{d[3]}")
(out / "pairs.txt").write_text("\n".join(lines) + "\n")
print(f"{sum(len(v) for v in images.values())} images of {len(names)} people, {20 * per_fold} pairs in {out}")
