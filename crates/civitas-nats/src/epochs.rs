//! The epoch a file camera was first started with (one message per camera
//! in the JetStream stream `{ns}_epochs`). Frame times are the epoch
//! plus the frame's offset in the file, so a worker that takes over a file
//! camera and replays it produces the same frame times, hence the same
//! stable result keys, and the store applies each result once. Also records
//! that a file camera has been analysed to its end, so it is not started
//! again by the next owner.

use crate::{Nats, token, unavailable};
use async_nats::jetstream::stream;
use civitas_base::{Result, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CameraEpoch {
    pub epoch_ms: i64,
    pub finished: bool,
}

/// A stream `{ns}_epochs` keeping the last message per camera subject
/// (`{ns}.epochs.{camera}`): a key-value table built from the stream
/// primitives NATS 2.9 has (its key-value API needs a newer server than
/// Debian's for this client).
#[derive(Debug, Clone)]
pub struct Epochs {
    nats: Nats,
    stream: stream::Stream,
}

impl Epochs {
    pub async fn open(nats: &Nats) -> Result<Epochs> {
        let name = format!("{}_epochs", nats.ns);
        let stream = nats
            .js
            .get_or_create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![format!("{}.epochs.>", nats.ns)],
                max_messages_per_subject: 1,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(format!("declaring stream {name}"))(e.to_string()))?;
        Ok(Epochs {
            nats: nats.clone(),
            stream,
        })
    }

    fn subject(&self, camera: &str) -> String {
        format!("{}.epochs.{}", self.nats.ns, token(camera))
    }

    /// The camera's epoch: the one recorded, or `now` recorded as it (the
    /// first writer wins, by JetStream's expected-last-sequence check; a
    /// racing second gets the first's).
    pub async fn claim(&self, camera: &str, now: Timestamp) -> Result<CameraEpoch> {
        if let Some(e) = self.get(camera).await? {
            return Ok(e);
        }
        let fresh = CameraEpoch {
            epoch_ms: now.0,
            finished: false,
        };
        let mut h = async_nats::HeaderMap::new();
        h.insert(async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, "0");
        let created = match self
            .nats
            .js
            .publish_with_headers(
                self.subject(camera),
                h,
                serde_json::to_vec(&fresh).expect("serialises").into(),
            )
            .await
        {
            Ok(ack) => ack.await.is_ok(),
            Err(_) => false,
        };
        if created {
            return Ok(fresh);
        }
        self.get(camera).await?.ok_or_else(|| {
            unavailable(format!("epoch of camera {camera}"))("neither created nor found".into())
        })
    }

    pub async fn get(&self, camera: &str) -> Result<Option<CameraEpoch>> {
        match self
            .stream
            .get_last_raw_message_by_subject(&self.subject(camera))
            .await
        {
            Ok(m) => Ok(serde_json::from_slice(&m.payload).ok()),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(unavailable(format!("reading epoch of camera {camera}"))(
                e.to_string(),
            )),
        }
    }

    /// Marks the camera's file analysed to its end.
    pub async fn finish(&self, camera: &str, epoch_ms: i64) -> Result<()> {
        let v = CameraEpoch {
            epoch_ms,
            finished: true,
        };
        self.nats
            .js
            .publish(
                self.subject(camera),
                serde_json::to_vec(&v).expect("serialises").into(),
            )
            .await
            .map_err(|e| unavailable(format!("marking camera {camera} finished"))(e.to_string()))?
            .await
            .map_err(|e| unavailable(format!("marking camera {camera} finished"))(e.to_string()))?;
        Ok(())
    }
}
