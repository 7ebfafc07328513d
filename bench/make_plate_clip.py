#!/usr/bin/python3
"""Renders a clip of vehicles passing a plate camera, one after another.

    make_plate_clip.py CAR_PHOTO ROAD_PHOTO OUT.mp4 PLATE [PLATE ...]

Each PLATE (shown text such as "PBX-1234", Ecuador's format) is drawn with
bench/make_plate_set.py's renderer and pasted over the real plate of the car
in CAR_PHOTO (the fast-alpr test photo, plate at x 303-390, y 186-212); the
car then crosses a 1280x720 frame over ROAD_PHOTO in 2 s, and 2 s pass with
no car before the next one. Frames go to ffmpeg (libx264, 25 fps).
Runs on Debian's python3 with python3-pil and python3-numpy.
"""
import random
import subprocess
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from make_plate_set import render_plate  # noqa: E402

W, H, FPS = 1280, 720, 25
PASS_S, GAP_S = 2.0, 2.0
PLATE_BOX = (303, 186, 390, 212)


def main():
    car_path, road_path, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    plates = sys.argv[4:]
    if not plates:
        sys.exit("give at least one plate")
    rng = random.Random(5)
    car0 = Image.open(car_path).convert("RGB")
    road = Image.open(road_path).convert("RGB").resize((W, H), Image.BILINEAR)
    scale = 1.6
    out.parent.mkdir(parents=True, exist_ok=True)
    ff = subprocess.Popen(
        ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}",
         "-framerate", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-g", "50", str(out)],
        stdin=subprocess.PIPE,
    )
    n = 0
    for shown in plates:
        car = car0.copy()
        plate, _ = render_plate(rng, "EC", shown)
        x0, y0, x1, y1 = PLATE_BOX
        car.paste(plate.resize((x1 - x0, y1 - y0), Image.LANCZOS), (x0, y0))
        car = car.resize((int(car.width * scale), int(car.height * scale)), Image.BILINEAR)
        frames = int(PASS_S * FPS)
        for k in range(frames):
            # Right to left across the frame, a little down-hill.
            x = int(W - (W + car.width * 0.35) * k / (frames - 1) - car.width * 0.3)
            y = 200 + int(30 * k / frames)
            f = road.copy()
            f.paste(car, (x, y))
            ff.stdin.write(f.tobytes())
            n += 1
        for _ in range(int(GAP_S * FPS)):
            ff.stdin.write(road.tobytes())
            n += 1
    ff.stdin.close()
    if ff.wait() != 0:
        sys.exit("ffmpeg failed")
    print(f"wrote {out}: {len(plates)} vehicle pass(es), {n} frames")


if __name__ == "__main__":
    main()
