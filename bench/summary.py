#!/usr/bin/env python3
"""Prints the benchmark figures from var/bench as Markdown tables for BENCHMARKS.md."""
import json
import sys
from pathlib import Path

out, cpu = Path(sys.argv[1]), sys.argv[2]
j = lambda n: json.loads((out / n).read_text())
print(f"Machine: {cpu}; each process pinned with taskset.\n")
print("| pipeline | 10-fold accuracy | TAR@FAR≤1e-3 | failures | 720p frames/s (1 core) | throughput ratio |")
print("|---|---|---|---|---|---|")
civ = j("speed-civitas.json")["fps"]
for name, ev, sp in [("Civitas", "eval-civitas.json", None), ("face_recognition 1.3.0 (dlib)", "eval-face_recognition.json", "speed-face_recognition.json"),
                     ("Python + onnxruntime, same models", "eval-onnxruntime.json", "speed-onnxruntime.json")]:
    e = j(ev)
    fps = civ if sp is None else j(sp)["fps"]
    ratio = "1" if sp is None else f"Civitas is {civ / fps:.2f}×"
    print(f"| {name} | {e['accuracy_mean']:.4f} ± {e['accuracy_std']:.4f} | {e['tar_at_far_1e3']:.4f} | {e['failures']} | {fps:.2f} | {ratio} |")
fps = j("speed-onnxruntime-384.json")["fps"]
print(f"| Python + onnxruntime, given Civitas's 640×384 detector graph | (same detector weights) | | | {fps:.2f} | Civitas is {civ / fps:.2f}× |")
print("\n| input | cores | decode | detect | align | embed | search | track | wall per frame | frames/s | faces/frame |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for size in ["1280x720", "1920x1080"]:
    for c in ["1core", "2cores"]:
        s = j(f"stages-{size}-{c}.json")
        m = s["ms_per_frame"]
        print(f"| {size} | {c[0]} | {m['decode']:.1f} | {m['detect']:.1f} | {m['align']:.1f} | {m['embed']:.1f} | {m['search']:.3f} | {m['track']:.3f} | {m['total_wall']:.1f} | {s['fps']:.2f} | {s['faces_per_frame']:.2f} |")
s = j("speed-civitas.json")
m = s["ms_per_frame"]
model = m["detect"] + m["embed"]
print(f"\nOverhead (everything but decode and the model calls) on the 720p frames: {(m['total_wall'] - model - m['decode']) / m['total_wall'] * 100:.1f}% of the frame time "
      f"(align {m['align']:.2f} ms, search {m['search']:.3f} ms, track {m['track']:.3f} ms of {m['total_wall']:.1f} ms).")
print("\n| watchlist entries | Civitas ms/probe | NumPy ms/probe | ratio |")
print("|---|---|---|---|")
for n in [10000, 100000, 1000000]:
    a, b = j(f"search-{n}.json")["ms_per_query"], j(f"search-numpy-{n}.json")["ms_per_query"]
    print(f"| {n:,} | {a:.3f} | {b:.3f} | Civitas is {b / a:.2f}× |")
a = j("audit.json")
print(f"\nAudit: {a['append_entries_per_s']:.0f} appends/s; verify {a['verify_entries']:,} entries in {a['verify_seconds']:.1f} s; "
      f"storing a match {a['store_match_ms_without_audit']:.2f} ms without audit, {a['store_match_ms_with_audit']:.2f} ms with (ratio {a['audit_cost_ratio']:.2f}).")
for size in ["1280x720", "1920x1080"]:
    d = j(f"decode-{size}.json")
    print(f"Decode {size}: openh264 {d['openh264_fps']:.0f} fps ({d['openh264_with_rgb_fps']:.0f} with RGB), ffmpeg -threads 1 {d['ffmpeg_threads1_fps']:.0f} fps, ratio {d['ratio_openh264_to_ffmpeg']:.2f}")
