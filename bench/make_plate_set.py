#!/usr/bin/python3
"""Renders a labelled number-plate test set for `civitas eval plates`.

    make_plate_set.py BACKGROUNDS_DIR OUT_DIR COUNT [SEED]

Plates in six South American formats (Ecuador, Bolivia, Colombia, Peru, and
Mercosur Argentina and Brazil) are drawn with fonts from Debian's
fonts-dejavu-core, fonts-liberation and fonts-freefont-ttf, warped in
perspective and rotated, dimmed, pasted onto real photos (every .png/.jpg in
BACKGROUNDS_DIR: scikit-image's sample photos and the real car from the
fast-alpr sdist), then blurred, noised and JPEG-compressed. Each image gets a
.txt beside it with one line `file<TAB>x<TAB>y<TAB>w<TAB>h<TAB>TEXT` (the
plate's axis-aligned box in the image and its characters without separators).

Runs on Debian's python3 with python3-pil and python3-numpy; the same seed
gives the same set.
"""
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
]

# code: (pattern, shown separator positions, background, text colour, band colour, band text)
# Pattern letters: L a letter, N a digit; a space or dash is shown, not part of the text.
FORMATS = {
    "EC": ("LLL-NNNN", (255, 255, 255), (20, 20, 20), (230, 180, 40), "ECUADOR"),
    "BO": ("NNNN LLL", (250, 250, 250), (25, 25, 25), (30, 120, 60), "BOLIVIA"),
    "CO": ("LLL NNN", (245, 200, 30), (15, 15, 15), None, None),
    "PE": ("LNL-NNN", (255, 255, 255), (20, 20, 20), (200, 30, 40), "PERU"),
    "AR": ("LL NNN LL", (250, 250, 250), (10, 10, 10), (20, 60, 150), "REPUBLICA ARGENTINA"),
    "BR": ("LLLNLNN", (250, 250, 250), (10, 10, 10), (20, 60, 150), "BRASIL"),
}
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def plate_text(rng, pattern):
    shown = "".join(
        rng.choice(LETTERS) if c == "L" else str(rng.randrange(10)) if c == "N" else c for c in pattern
    )
    return shown, "".join(c for c in shown if c.isalnum())


def fit_font(path, text, max_w, max_h):
    size = max_h
    while size > 10:
        font = ImageFont.truetype(path, size)
        l, t, r, b = font.getbbox(text)
        if r - l <= max_w and b - t <= max_h:
            return font
        size -= 2
    return ImageFont.truetype(path, 10)


def render_plate(rng, code, shown=None):
    """A plate of format `code`: random characters, or the given `shown` text (e.g. "PBX-1234")."""
    pattern, bg, fg, band, band_text = FORMATS[code]
    if shown is None:
        shown, text = plate_text(rng, pattern)
    else:
        text = "".join(c for c in shown if c.isalnum())
    w, h = 440, 150
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    top = 0
    if band:
        d.rectangle([0, 0, w, 30], fill=band)
        f = fit_font(FONTS[0], band_text, w - 40, 22)
        l, t, r, b = f.getbbox(band_text)
        d.text(((w - (r - l)) / 2 - l, (30 - (b - t)) / 2 - t), band_text, font=f, fill=(255, 255, 255))
        top = 30
    font = fit_font(rng.choice(FONTS), shown, w - 36, h - top - 26)
    l, t, r, b = font.getbbox(shown)
    d.text(((w - (r - l)) / 2 - l, top + (h - top - (b - t)) / 2 - t), shown, font=font, fill=fg)
    d.rectangle([2, 2, w - 3, h - 3], outline=fg, width=4)
    return img, text


def perspective_coeffs(dst, src):
    """Coefficients for PIL's PERSPECTIVE transform mapping output points dst to input points src."""
    a = []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return np.linalg.solve(np.array(a, float), np.array(src, float).reshape(8)).tolist()


def main():
    bg_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    count = int(sys.argv[3])
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    backgrounds = sorted(p for p in bg_dir.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not backgrounds:
        sys.exit(f"no .png/.jpg backgrounds under {bg_dir}")
    photos = [Image.open(p).convert("RGB") for p in backgrounds]
    out.mkdir(parents=True, exist_ok=True)
    codes = sorted(FORMATS)
    for i in range(count):
        W, H = 640, 480
        photo = photos[i % len(photos)]
        scale = max(W / photo.width, H / photo.height, rng.uniform(0.8, 1.4))
        photo = photo.resize((int(photo.width * scale) + 1, int(photo.height * scale) + 1), Image.BILINEAR)
        x0, y0 = rng.randrange(photo.width - W + 1), rng.randrange(photo.height - H + 1)
        scene = photo.crop((x0, y0, x0 + W, y0 + H))

        plate, text = render_plate(rng, codes[i % len(codes)])
        pw = rng.uniform(90, 230)
        ph = pw * plate.height / plate.width
        cx, cy = rng.uniform(pw / 2 + 10, W - pw / 2 - 10), rng.uniform(ph / 2 + 20, H - ph / 2 - 20)
        angle = np.radians(rng.uniform(-8, 8))
        corners = []
        for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            x, y = sx * pw / 2, sy * ph / 2
            x += rng.uniform(-0.07, 0.07) * pw
            y += rng.uniform(-0.07, 0.07) * ph
            corners.append((cx + x * np.cos(angle) - y * np.sin(angle), cy + x * np.sin(angle) + y * np.cos(angle)))
        src = [(0, 0), (plate.width, 0), (plate.width, plate.height), (0, plate.height)]
        coeffs = perspective_coeffs(corners, src)
        warped = plate.transform((W, H), Image.PERSPECTIVE, coeffs, Image.BICUBIC)
        mask = Image.new("L", plate.size, 255).transform((W, H), Image.PERSPECTIVE, coeffs, Image.BILINEAR)
        gain = rng.uniform(0.55, 1.05)
        warped = Image.eval(warped, lambda v: int(v * gain))
        scene.paste(warped, (0, 0), mask)

        scene = scene.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.1)))
        arr = np.asarray(scene).astype(np.float32)
        arr += np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(0, 6), arr.shape)
        scene = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        name = f"plate-{i:04d}.jpg"
        scene.save(out / name, quality=rng.randrange(55, 92))

        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        bx, by = max(0, int(min(xs))), max(0, int(min(ys)))
        bw, bh = int(min(W, max(xs))) - bx, int(min(H, max(ys))) - by
        (out / f"plate-{i:04d}.txt").write_text(f"{name}\t{bx}\t{by}\t{bw}\t{bh}\t{text}\n")
    print(f"wrote {count} plates to {out}")


if __name__ == "__main__":
    main()
