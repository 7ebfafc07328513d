//! The closed sets that cross a boundary (the bus, the store's text
//! columns, the API, the live stream, MQTT): states and kinds, one
//! definition each, with their wire names. Their rules live beside what
//! they govern (`incident.rs` holds the incident lifecycle).

civitas_base::wire_enum! {
    /// A camera's state: `connecting` (for the first time), `online` (frames
    /// arrive), `degraded` (connected, frames fail to decode), `offline` (not
    /// connected and retrying, or its source failed) or `stopped` (its source
    /// ended: a file's end, a bounded run).
    #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
    pub enum CameraState ("camera state") {
        Connecting = "connecting", Online = "online", Degraded = "degraded",
        Offline = "offline", Stopped = "stopped",
    }

    /// What the store's camera log records: each state a camera entered, and
    /// `failed` when its source gave up for good.
    #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
    pub enum CameraEventKind ("camera event kind") {
        Connecting = "connecting", Online = "online", Degraded = "degraded",
        Offline = "offline", Stopped = "stopped", Failed = "failed",
    }

    /// What raised a candidate: a face matched a watchlist entry, or a plate
    /// a hotlist entry.
    #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
    pub enum CandidateKind ("candidate kind") { Face = "face", Plate = "plate" }

    /// Where a candidate is in review. A match stays a `candidate` until
    /// people decide it: `confirmed` by as many different reviewers as the
    /// policy requires, or `rejected` by one; unreviewed ones become `expired`
    /// by retention.
    #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
    pub enum CandidateStatus ("candidate status") {
        Candidate = "candidate", Confirmed = "confirmed", Rejected = "rejected",
        Expired = "expired",
    }

    /// A recording file's state: `recording` (being written), `complete`
    /// (closed normally), `recovered` (found after a crash and made playable),
    /// `lost` (its file could not be recovered) or `deleted` (by retention;
    /// the row stays, saying why).
    #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
    pub enum RecordingState ("recording state") {
        Recording = "recording", Complete = "complete", Recovered = "recovered",
        Lost = "lost", Deleted = "deleted",
    }

    /// Where an incident is in its life. Forward only:
    /// `new → dispatched → on_scene → closed`; `new` and `dispatched` may also
    /// close (a false alarm, a duplicate call, a cancelled request).
    #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
    pub enum IncidentStatus ("incident status") {
        New = "new", Dispatched = "dispatched", OnScene = "on_scene", Closed = "closed",
    }

    /// Why an incident was closed (counted in the transparency report):
    /// `resolved` (attended and dealt with), `false_alarm` (nothing had
    /// happened), `duplicate` (another incident covers the same event),
    /// `cancelled` (withdrawn before anyone arrived) or `referred` (handed to
    /// another agency).
    #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
    pub enum CloseReason ("closing reason") {
        Resolved = "resolved", FalseAlarm = "false_alarm", Duplicate = "duplicate",
        Cancelled = "cancelled", Referred = "referred",
    }

    /// What a unit is doing.
    #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
    pub enum UnitStatus ("unit status") {
        Available = "available", Dispatched = "dispatched", OnScene = "on_scene",
        OutOfService = "out_of_service",
    }

    /// How an incident came in: `call` (an operator took a call), `inbound`
    /// (a telephony or other agency's system opened it through the API),
    /// `candidate` (from a confirmed face match or plate hit) or `camera`
    /// (from what a camera showed).
    #[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
    pub enum IncidentSource ("incident source") {
        Call = "call", Inbound = "inbound", Candidate = "candidate", Camera = "camera",
    }
}

impl From<CameraState> for CameraEventKind {
    fn from(s: CameraState) -> CameraEventKind {
        match s {
            CameraState::Connecting => CameraEventKind::Connecting,
            CameraState::Online => CameraEventKind::Online,
            CameraState::Degraded => CameraEventKind::Degraded,
            CameraState::Offline => CameraEventKind::Offline,
            CameraState::Stopped => CameraEventKind::Stopped,
        }
    }
}

impl RecordingState {
    /// Whether its file can be played or exported.
    pub fn playable(self) -> bool {
        matches!(self, RecordingState::Complete | RecordingState::Recovered)
    }
}

/// A reviewer's decision (`confirm` or `reject` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum Decision {
    Confirm,
    Reject,
}

/// Read as a string first, so a wrong type or value is refused with the
/// field's name (`field \`decision\`: "maybe" is not confirm or reject`).
impl TryFrom<String> for Decision {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Decision, String> {
        match s.as_str() {
            "confirm" => Ok(Decision::Confirm),
            "reject" => Ok(Decision::Reject),
            other => Err(format!("{other:?} is not confirm or reject")),
        }
    }
}

impl Decision {
    /// Reads a stored decision.
    pub fn parse(s: &str) -> civitas_base::Result<Decision> {
        Decision::try_from(s.to_owned()).map_err(civitas_base::Error::invalid)
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Confirm => "confirm",
            Decision::Reject => "reject",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_camera_state_is_a_camera_event_kind_of_the_same_name() {
        for s in CameraState::ALL {
            assert_eq!(CameraEventKind::from(s).name(), s.name());
        }
    }
}
