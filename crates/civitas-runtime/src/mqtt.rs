//! Publishes the command centre's live events to an MQTT broker, so existing
//! home-automation and VMS integrations can follow cameras and alerts.
//!
//! Topic layout under `[mqtt] topic_prefix` (P):
//! - `P/cameras/{camera}/health` (retained): `{"camera","state","last_error","reconnects","at_ms"}`
//! - `P/cameras/{camera}/candidates`: `{"candidate","camera","frame_time_ms","status":"candidate","at_ms"}`
//! - `P/candidates/{id}/status`: `{"candidate","camera","status","confirmations","required","at_ms"}`
//! - `P/incidents/{id}` (retained): `{"incident","change","status","priority","type","latitude","longitude","units","close_reason","at_ms"}`
//! - `P/units/{id}` (retained): `{"unit","kind","status","incident","latitude","longitude","at_ms"}`
//!
//! Incident payloads say what and where for radio dispatch; never the
//! caller, the notes, or whom a match concerned.
//!
//! Payloads never carry a name, an entry id, a score or an image: a broker
//! is a wide audience, so it learns *that* something needs review, and the
//! console (with its permissions and audit) says *what*.

use civitas_api::{LiveEvent, LivePayload};
use civitas_base::{Clock, SystemClock};
use civitas_config::MqttConfig;
use civitas_model::CandidateStatus;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::broadcast;

/// One event as (topic, payload, retained), or `None` for events not published.
pub fn message(prefix: &str, ev: &LiveEvent) -> Option<(String, serde_json::Value, bool)> {
    let at_ms = SystemClock.now().0;
    let safe = |s: &str| s.replace(['/', '#', '+'], "_");
    Some(match &ev.payload {
        LivePayload::Incident(i) => (
            format!("{prefix}/incidents/{}", i.id),
            serde_json::json!({"incident": i.id, "change": i.change, "status": i.status,
                "priority": i.priority, "type": i.type_id, "latitude": i.latitude,
                "longitude": i.longitude, "units": i.units, "close_reason": i.close_reason, "at_ms": at_ms}),
            true,
        ),
        LivePayload::Unit(u) => (
            format!("{prefix}/units/{}", safe(&u.id)),
            serde_json::json!({"unit": u.id, "kind": u.kind, "status": u.status,
                "incident": u.incident_id, "latitude": u.latitude, "longitude": u.longitude, "at_ms": at_ms}),
            true,
        ),
        LivePayload::Camera(c) => (
            format!("{prefix}/cameras/{}/health", safe(&c.id)),
            serde_json::json!({"camera": c.id, "state": c.state, "last_error": c.last_error,
                "reconnects": c.reconnects, "at_ms": at_ms}),
            true,
        ),
        LivePayload::Candidate(n) => (
            format!("{prefix}/cameras/{}/candidates", safe(&n.camera)),
            serde_json::json!({"candidate": n.id, "camera": n.camera, "frame_time_ms": n.frame_time_ms,
                "status": CandidateStatus::Candidate, "at_ms": at_ms}),
            false,
        ),
        LivePayload::Review(r) => (
            format!("{prefix}/candidates/{}/status", r.id),
            serde_json::json!({"candidate": r.id, "camera": ev.camera.as_deref()?, "status": r.status,
                "confirmations": r.confirmations, "required": r.required, "at_ms": at_ms}),
            false,
        ),
    })
}

/// Forwards `rx` to the broker until `stop` fires, then publishes what is
/// still queued and disconnects. A broker that is down is retried (the
/// client reconnects) and logged; it never stalls the cameras.
pub async fn forward(
    cfg: MqttConfig,
    mut rx: broadcast::Receiver<LiveEvent>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut opts = MqttOptions::new(&cfg.client_id, &cfg.host, cfg.port);
    opts.set_keep_alive(std::time::Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(opts, 256);
    let pump = tokio::spawn(async move {
        let mut warned = false;
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                Ok(_) => warned = false,
                Err(e) => {
                    if !warned {
                        tracing::warn!("civitas: MQTT broker unreachable ({e}); retrying");
                        warned = true;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    });
    let send = |ev: LiveEvent| {
        let client = client.clone();
        let prefix = cfg.topic_prefix.clone();
        async move {
            if let Some((topic, payload, retain)) = message(&prefix, &ev)
                && let Err(e) = client
                    .publish(topic, QoS::AtLeastOnce, retain, payload.to_string())
                    .await
            {
                tracing::warn!(error = %e, "MQTT publish failed");
            }
        }
    };
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => send(ev).await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "MQTT forwarder fell behind; events dropped");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = &mut stop => break,
        }
    }
    while let Ok(ev) = rx.try_recv() {
        send(ev).await;
    }
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), pump).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_no_names_and_topics_no_wildcards() {
        let ev = LiveEvent::new(
            Some("gate/1".into()),
            LivePayload::Candidate(civitas_api::CandidateNotice {
                id: Some(4),
                camera: "gate/1".into(),
                entry_name: "Ana Example".into(),
                distance: 0.3,
                frame_time_ms: 9,
                stored_at_ms: 10,
            }),
        );
        let (topic, payload, retain) = message("civitas/site", &ev).unwrap();
        assert_eq!(topic, "civitas/site/cameras/gate_1/candidates");
        assert!(!retain);
        let text = payload.to_string();
        assert!(
            !text.contains("Ana") && !text.contains("distance"),
            "{text}"
        );
        assert_eq!(payload["candidate"], 4);
    }
}
