//! Fragmented MP4 (ISO BMFF) for recordings, written straight from the
//! camera's encoded stream: no re-encoding. A file is `ftyp`, `moov` (the
//! sample entry from the camera's parameters: `avc1`/`avcC` or `hvc1`/`hvcC`),
//! then one `moof`+`mdat` fragment per group of pictures, appended and flushed
//! as each group completes. A file cut short (a crash, a full disk) therefore
//! ends in at most one incomplete fragment; [`recover`] truncates it to the last
//! complete one. Any standard player or FFmpeg reads the result.

use std::borrow::Borrow;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The media timescale: RTP's 90 kHz video clock.
pub const TIMESCALE: u32 = 90_000;

/// One encoded picture (an access unit) as MP4 stores it: NAL units with 4-byte
/// length prefixes, parameter sets out of band.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Presentation time in [`TIMESCALE`] units (any origin).
    pub pts: i64,
    pub keyframe: bool,
    pub data: Vec<u8>,
}

/// What a file's header needs: the `.mp4` visual sample entry and the size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackParams {
    /// The `VisualSampleEntry` box (`avc1` with `avcC`, or `hvc1` with `hvcC`).
    pub sample_entry: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(body.len() + 8);
    b.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    b.extend_from_slice(kind);
    b.extend_from_slice(body);
    b
}

fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(body.len() + 4);
    b.extend_from_slice(&(((version as u32) << 24) | (flags & 0xff_ffff)).to_be_bytes());
    b.extend_from_slice(body);
    boxed(kind, &b)
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

fn matrix() -> Vec<u8> {
    MATRIX.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// `ftyp` and `moov` for one video track.
pub fn header(p: &TrackParams) -> Vec<u8> {
    let mut ftyp = Vec::new();
    ftyp.extend_from_slice(b"iso6");
    ftyp.extend_from_slice(&0u32.to_be_bytes());
    for b in [b"iso6", b"isom", b"iso5", b"mp41"] {
        ftyp.extend_from_slice(b);
    }
    let mut mvhd = Vec::new();
    mvhd.extend_from_slice(&[0; 8]); // creation, modification
    mvhd.extend_from_slice(&1000u32.to_be_bytes());
    mvhd.extend_from_slice(&0u32.to_be_bytes()); // duration: in the fragments
    mvhd.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate
    mvhd.extend_from_slice(&0x0100u16.to_be_bytes()); // volume
    mvhd.extend_from_slice(&[0; 10]);
    mvhd.extend_from_slice(&matrix());
    mvhd.extend_from_slice(&[0; 24]);
    mvhd.extend_from_slice(&2u32.to_be_bytes()); // next track id
    let mut tkhd = Vec::new();
    tkhd.extend_from_slice(&[0; 8]);
    tkhd.extend_from_slice(&1u32.to_be_bytes()); // track id
    tkhd.extend_from_slice(&[0; 4]);
    tkhd.extend_from_slice(&0u32.to_be_bytes()); // duration
    tkhd.extend_from_slice(&[0; 8]);
    tkhd.extend_from_slice(&[0; 4]); // layer, alternate group
    tkhd.extend_from_slice(&[0; 4]); // volume, reserved
    tkhd.extend_from_slice(&matrix());
    tkhd.extend_from_slice(&(p.width << 16).to_be_bytes());
    tkhd.extend_from_slice(&(p.height << 16).to_be_bytes());
    let mut mdhd = Vec::new();
    mdhd.extend_from_slice(&[0; 8]);
    mdhd.extend_from_slice(&TIMESCALE.to_be_bytes());
    mdhd.extend_from_slice(&0u32.to_be_bytes());
    mdhd.extend_from_slice(&0x55c4u16.to_be_bytes()); // "und"
    mdhd.extend_from_slice(&[0; 2]);
    let mut hdlr = Vec::new();
    hdlr.extend_from_slice(&[0; 4]);
    hdlr.extend_from_slice(b"vide");
    hdlr.extend_from_slice(&[0; 12]);
    hdlr.extend_from_slice(b"Civitas video\0");
    let dref = full(
        b"dref",
        0,
        0,
        &[&1u32.to_be_bytes()[..], &full(b"url ", 0, 1, &[])].concat(),
    );
    let stsd = full(
        b"stsd",
        0,
        0,
        &[&1u32.to_be_bytes()[..], &p.sample_entry].concat(),
    );
    let empty = 0u32.to_be_bytes();
    let stbl = boxed(
        b"stbl",
        &[
            stsd,
            full(b"stts", 0, 0, &empty),
            full(b"stsc", 0, 0, &empty),
            full(b"stsz", 0, 0, &[0u8; 8]),
            full(b"stco", 0, 0, &empty),
        ]
        .concat(),
    );
    let minf = boxed(
        b"minf",
        &[full(b"vmhd", 0, 1, &[0; 8]), boxed(b"dinf", &dref), stbl].concat(),
    );
    let mdia = boxed(
        b"mdia",
        &[full(b"mdhd", 0, 0, &mdhd), full(b"hdlr", 0, 0, &hdlr), minf].concat(),
    );
    let trak = boxed(b"trak", &[full(b"tkhd", 0, 3, &tkhd), mdia].concat());
    let mut trex = Vec::new();
    trex.extend_from_slice(&1u32.to_be_bytes()); // track id
    trex.extend_from_slice(&1u32.to_be_bytes()); // sample description index
    trex.extend_from_slice(&[0; 12]);
    let mvex = boxed(b"mvex", &full(b"trex", 0, 0, &trex));
    let moov = boxed(b"moov", &[full(b"mvhd", 0, 0, &mvhd), trak, mvex].concat());
    [boxed(b"ftyp", &ftyp), moov].concat()
}

/// Decode times and composition offsets for a group of pictures in decode
/// order. RTSP carries presentation times only; a group's decode times are its
/// presentation times sorted, and each picture's offset is the difference
/// (negative offsets are allowed by `trun` version 1). `next_pts` is the first
/// presentation time of the next group, for the last duration.
fn timing<S: Borrow<Sample>>(
    samples: &[S],
    next_pts: Option<i64>,
) -> (Vec<i64>, Vec<u32>, Vec<i32>) {
    let samples: Vec<&Sample> = samples.iter().map(Borrow::borrow).collect();
    let mut sorted: Vec<i64> = samples.iter().map(|s| s.pts).collect();
    sorted.sort_unstable();
    let mut durations = Vec::with_capacity(sorted.len());
    for i in 0..sorted.len() {
        let next = sorted
            .get(i + 1)
            .copied()
            .or(next_pts.filter(|&n| n > sorted[i]));
        let d = match next {
            Some(n) => n - sorted[i],
            // The last picture of a stream: as long as the one before it.
            None => durations.last().map(|&d: &u32| d as i64).unwrap_or(3000),
        };
        durations.push(d.clamp(0, u32::MAX as i64) as u32);
    }
    let offsets = samples
        .iter()
        .zip(&sorted)
        .map(|(s, d)| (s.pts - d).clamp(i32::MIN as i64, i32::MAX as i64) as i32)
        .collect();
    (sorted, durations, offsets)
}

/// One `moof`+`mdat` fragment. `base` is the file's first decode time.
/// Takes samples or references to them (the recorder's ring keeps the bytes).
pub fn fragment<S: Borrow<Sample>>(
    sequence: u32,
    base: i64,
    samples: &[S],
    next_pts: Option<i64>,
) -> Vec<u8> {
    let samples: Vec<&Sample> = samples.iter().map(Borrow::borrow).collect();
    let (dts, durations, offsets) = timing(&samples, next_pts);
    let mfhd = full(b"mfhd", 0, 0, &sequence.to_be_bytes());
    // default-base-is-moof: data offsets count from the moof's first byte.
    let tfhd = full(b"tfhd", 0, 0x02_0000, &1u32.to_be_bytes());
    let tfdt = full(
        b"tfdt",
        1,
        0,
        &((dts.first().copied().unwrap_or(base) - base).max(0) as u64).to_be_bytes(),
    );
    // trun v1: data offset, and per sample duration, size, flags, signed composition offset.
    let trun_len = 8 + 4 + 4 + samples.len() * 16 + 4;
    let moof_len = 8 + mfhd.len() + 8 + tfhd.len() + tfdt.len() + trun_len;
    let mut trun = Vec::with_capacity(trun_len);
    trun.extend_from_slice(&(samples.len() as u32).to_be_bytes());
    trun.extend_from_slice(&((moof_len + 8) as i32).to_be_bytes());
    for (i, s) in samples.iter().enumerate() {
        trun.extend_from_slice(&durations[i].to_be_bytes());
        trun.extend_from_slice(&(s.data.len() as u32).to_be_bytes());
        let flags: u32 = if s.keyframe { 0x0200_0000 } else { 0x0101_0000 };
        trun.extend_from_slice(&flags.to_be_bytes());
        trun.extend_from_slice(&offsets[i].to_be_bytes());
    }
    let trun = full(b"trun", 1, 0x000f01, &trun);
    let traf = boxed(b"traf", &[tfhd, tfdt, trun].concat());
    let moof = boxed(b"moof", &[mfhd, traf].concat());
    debug_assert_eq!(moof.len(), moof_len);
    let size: usize = samples.iter().map(|s| s.data.len()).sum();
    let mut out = moof;
    out.reserve(size + 8);
    out.extend_from_slice(&((size + 8) as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    for s in samples {
        out.extend_from_slice(&s.data);
    }
    out
}

/// What a recording file holds, read from its boxes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Bytes up to the end of the last complete fragment.
    pub valid_bytes: u64,
    /// Bytes after it (an interrupted fragment).
    pub trailing_bytes: u64,
    pub fragments: u32,
    pub samples: u64,
    /// Media time covered, in milliseconds.
    pub duration_ms: i64,
    /// Whether the header (`ftyp`, `moov`) is complete.
    pub has_header: bool,
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Sum of the sample durations of a `moof` and its base decode time.
fn moof_timing(moof: &[u8]) -> Option<(u64, u64, u64)> {
    // moof > traf > (tfdt, trun)
    let mut at = 8;
    let (mut base, mut total, mut count) = (0u64, 0u64, 0u64);
    while at + 8 <= moof.len() {
        let size = read_u32(moof, at)? as usize;
        if size < 8 || at + size > moof.len() {
            return None;
        }
        if &moof[at + 4..at + 8] == b"traf" {
            let traf = &moof[at..at + size];
            let mut t = 8;
            while t + 8 <= traf.len() {
                let s = read_u32(traf, t)? as usize;
                if s < 8 || t + s > traf.len() {
                    return None;
                }
                let body = &traf[t + 8..t + s];
                match &traf[t + 4..t + 8] {
                    b"tfdt" => {
                        base = if body.first() == Some(&1) {
                            u64::from_be_bytes(body.get(4..12)?.try_into().ok()?)
                        } else {
                            read_u32(body, 4)? as u64
                        };
                    }
                    b"trun" => {
                        let flags = read_u32(body, 0)? & 0xff_ffff;
                        let n = read_u32(body, 4)? as usize;
                        let mut p = 8;
                        if flags & 0x1 != 0 {
                            p += 4;
                        }
                        if flags & 0x4 != 0 {
                            p += 4;
                        }
                        let per = [0x100, 0x200, 0x400, 0x800]
                            .iter()
                            .filter(|&&f| flags & f != 0)
                            .count()
                            * 4;
                        for i in 0..n {
                            if flags & 0x100 != 0 {
                                total += read_u32(body, p + i * per)? as u64;
                            }
                        }
                        count += n as u64;
                    }
                    _ => {}
                }
                t += s;
            }
        }
        at += size;
    }
    Some((base, total, count))
}

/// Reads a file's top-level boxes and reports what is complete.
pub fn summarise(path: &Path) -> io::Result<Summary> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut s = Summary::default();
    let (mut at, mut pending_moof): (u64, Option<(u64, u64, u64)>) = (0, None);
    let (mut ftyp, mut moov) = (false, false);
    let mut end_time = 0u64;
    loop {
        if at + 8 > len {
            break;
        }
        let mut h = [0u8; 16];
        f.seek(SeekFrom::Start(at))?;
        f.read_exact(&mut h[..8])?;
        let mut size = u32::from_be_bytes(h[..4].try_into().unwrap_or_default()) as u64;
        let kind: [u8; 4] = h[4..8].try_into().unwrap_or_default();
        if size == 1 {
            if at + 16 > len {
                break;
            }
            f.read_exact(&mut h[8..16])?;
            size = u64::from_be_bytes(h[8..16].try_into().unwrap_or_default());
        }
        if size < 8 || at + size > len {
            break;
        }
        match &kind {
            b"ftyp" => ftyp = true,
            b"moov" => {
                moov = true;
                if ftyp {
                    s.valid_bytes = at + size;
                    s.has_header = true;
                }
            }
            b"moof" => {
                let mut body = vec![0u8; size as usize];
                f.seek(SeekFrom::Start(at))?;
                f.read_exact(&mut body)?;
                pending_moof = moof_timing(&body);
                if pending_moof.is_none() {
                    break;
                }
            }
            b"mdat" => {
                if let (Some((base, dur, n)), true) = (pending_moof.take(), moov) {
                    s.fragments += 1;
                    s.samples += n;
                    end_time = end_time.max(base + dur);
                    s.valid_bytes = at + size;
                }
            }
            _ => {}
        }
        at += size;
    }
    s.has_header = ftyp && moov;
    s.trailing_bytes = len - s.valid_bytes;
    s.duration_ms = (end_time as i64) * 1000 / TIMESCALE as i64;
    Ok(s)
}

/// Truncates an interrupted recording to its last complete fragment. Returns
/// what is left; a file without a complete header or fragment is an error
/// naming the file (nothing in it can be played).
pub fn recover(path: &Path) -> io::Result<Summary> {
    let s = summarise(path)?;
    if !s.has_header || s.fragments == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: no complete fragment to recover ({} byte(s), header {})",
                path.display(),
                s.valid_bytes + s.trailing_bytes,
                if s.has_header {
                    "complete"
                } else {
                    "incomplete"
                }
            ),
        ));
    }
    if s.trailing_bytes > 0 {
        let f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.set_len(s.valid_bytes)?;
        f.sync_all()?;
    }
    Ok(s)
}

/// Converts a frame in MP4 framing (4-byte lengths) to Annex B (start codes),
/// prepending the parameter sets (for a key frame): what decoders take.
pub fn to_annex_b(mp4: &[u8], parameter_sets: &[&[u8]], out: &mut Vec<u8>) {
    out.clear();
    for ps in parameter_sets {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(ps);
    }
    let mut at = 0;
    while at + 4 <= mp4.len() {
        let n = u32::from_be_bytes([mp4[at], mp4[at + 1], mp4[at + 2], mp4[at + 3]]) as usize;
        let end = (at + 4 + n).min(mp4.len());
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&mp4[at + 4..end]);
        at = end;
    }
}

/// Whether an H.265 picture in MP4 framing holds an IRAP slice (BLA, IDR or
/// CRA: NAL types 16 to 23), where decoding can start.
pub fn has_h265_irap(mp4: &[u8]) -> bool {
    let mut at = 0;
    while at + 5 <= mp4.len() {
        let n = u32::from_be_bytes([mp4[at], mp4[at + 1], mp4[at + 2], mp4[at + 3]]) as usize;
        let kind = (mp4[at + 4] >> 1) & 0x3f;
        if (16..=23).contains(&kind) {
            return true;
        }
        at += 4 + n;
    }
    false
}

/// Writes `bytes` and flushes them to the disk.
pub fn append(f: &mut std::fs::File, bytes: &[u8]) -> io::Result<()> {
    f.write_all(bytes)?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pts: i64, key: bool, len: usize) -> Sample {
        let mut data = (len as u32 - 4).to_be_bytes().to_vec();
        data.resize(len, 0x41);
        Sample {
            pts,
            keyframe: key,
            data,
        }
    }

    fn params() -> TrackParams {
        TrackParams {
            sample_entry: boxed(b"avc1", &[0; 78]),
            width: 64,
            height: 48,
        }
    }

    #[test]
    fn b_frame_groups_get_sorted_decode_times_and_signed_offsets() {
        // I P B B in decode order, presentation I=0, P=9000, B=3000, B=6000.
        let g = [
            sample(0, true, 10),
            sample(9000, false, 10),
            sample(3000, false, 10),
            sample(6000, false, 10),
        ];
        let (dts, dur, off) = timing(&g, Some(12000));
        assert_eq!(dts, vec![0, 3000, 6000, 9000]);
        assert_eq!(dur, vec![3000; 4]);
        assert_eq!(off, vec![0, 6000, -3000, -3000]);
        // The last group of a stream repeats the previous duration.
        let (_, dur, _) = timing(&g, None);
        assert_eq!(dur[3], 3000);
    }

    #[test]
    fn an_interrupted_file_is_cut_back_to_its_last_complete_fragment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.mp4");
        let mut bytes = header(&params());
        let head = bytes.len() as u64;
        bytes.extend(fragment(
            1,
            0,
            &[sample(0, true, 100), sample(3000, false, 50)],
            Some(6000),
        ));
        bytes.extend(fragment(2, 0, &[sample(6000, true, 100)], Some(9000)));
        let whole = bytes.len() as u64;
        let third = fragment(3, 0, &[sample(9000, true, 100)], None);
        bytes.extend(&third[..third.len() - 30]);
        std::fs::write(&path, &bytes).unwrap();
        let s = summarise(&path).unwrap();
        assert_eq!((s.fragments, s.samples, s.valid_bytes), (2, 3, whole));
        assert_eq!(s.trailing_bytes, third.len() as u64 - 30);
        assert_eq!(s.duration_ms, 100);
        let r = recover(&path).unwrap();
        assert_eq!(r.valid_bytes, whole);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        assert_eq!(summarise(&path).unwrap().trailing_bytes, 0);
        // Only a header: nothing to play, reported.
        std::fs::write(&path, &bytes[..head as usize + 20]).unwrap();
        let e = recover(&path).unwrap_err().to_string();
        assert!(e.contains("no complete fragment"), "{e}");
        std::fs::write(&path, b"garbage").unwrap();
        assert!(recover(&path).is_err());
    }

    #[test]
    fn mp4_framing_converts_to_annex_b_with_parameter_sets() {
        let mut out = Vec::new();
        to_annex_b(
            &[0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 1, 0x41],
            &[&[0x67, 1], &[0x68]],
            &mut out,
        );
        assert!(has_h265_irap(&[0, 0, 0, 2, 21 << 1, 1]));
        assert!(!has_h265_irap(&[
            0,
            0,
            0,
            2,
            1 << 1,
            1,
            0,
            0,
            0,
            2,
            39 << 1,
            1
        ]));
        assert_eq!(
            out,
            vec![
                0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 0, 0, 0, 1, 0x65, 0xaa, 0, 0, 0, 1, 0x41
            ]
        );
    }
}
