//! The bytes of an event on the wire: the event as JSON, a newline, then the
//! face or plate crop (JPEG) as raw bytes (the crop is evidence for the
//! reviewer and is kept out of the JSON so it is not inflated by encoding).
//! There is no field for a face template: the model's `FaceTemplate` is not
//! serialisable.

use civitas_base::{Error, Result};
use civitas_pipeline::Event;

pub fn encode(ev: &Event) -> Vec<u8> {
    let mut out = serde_json::to_vec(ev).expect("events serialise");
    out.push(b'\n');
    match ev {
        Event::Candidate(c) => out.extend_from_slice(&c.crop_jpeg),
        Event::PlatePass(p) => out.extend_from_slice(&p.crop_jpeg),
        _ => {}
    }
    out
}

pub fn decode(bytes: &[u8]) -> Result<Event> {
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| Error::invalid("event without its header line"))?;
    let mut ev: Event = serde_json::from_slice(&bytes[..nl])
        .map_err(|e| Error::invalid(format!("event header: {e}")))?;
    let crop = bytes[nl + 1..].to_vec();
    match &mut ev {
        Event::Candidate(c) => c.crop_jpeg = crop,
        Event::PlatePass(p) => p.crop_jpeg = crop,
        _ => {}
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use civitas_base::Timestamp;
    use civitas_model::{BBox, Candidate, EntryId, TrackId};

    #[test]
    fn a_candidate_round_trips_with_its_crop() {
        let c = Candidate {
            id: None,
            camera: "gate".into(),
            track: TrackId(4),
            entry: EntryId(9),
            entry_name: "Alice".into(),
            distance: 0.3,
            detector_score: 0.8,
            bbox: BBox::new(1.0, 2.0, 3.0, 4.0),
            frame_time: Timestamp(1_700_000_000_000),
            offset_ms: 400,
            crop_jpeg: vec![0xff, 0xd8, b'\n', 0, 7],
        };
        let bytes = encode(&Event::Candidate(c.clone()));
        let Event::Candidate(back) = decode(&bytes).unwrap() else {
            panic!("not a candidate")
        };
        assert_eq!(back.crop_jpeg, c.crop_jpeg);
        assert_eq!(back.key(), c.key());
        assert_eq!(back.bbox, c.bbox);
        assert!(decode(b"{\"type\":\"nonsense\"}\n").is_err());
        assert!(decode(b"no newline").is_err());
    }
}
