//! What the API answers with: its own types and their OpenAPI schemas,
//! mapped from the store's. The store may add a column without changing
//! the contract; removing one stops the build here, where the contract is.
//! Field docs become the schema's descriptions.

use civitas_model::{
    BBox, CameraEventKind, CandidateKind, CandidateStatus, Decision, RecordingState,
    incident::{CloseReason, IncidentSource, IncidentStatus, UnitStatus},
};
use serde::Serialize;
use utoipa::ToSchema;

/// Declares an API view and its `From` the store type of the same shape.
/// A field marked `[each]` is a list of views, `[opt]` an optional one;
/// fields after a `;` are made by a function of the source's (`Copy`) fields.
macro_rules! view {
    ($(
        $(#[$m:meta])*
        pub struct $name:ident from $src:path {
            $( $(#[$fm:meta])* $f:ident : $t:ty $([$conv:ident])? ),* $(,)?
            $(; $( $(#[$cm:meta])* $c:ident : $ct:ty = $fun:ident ( $($arg:ident),* ) ),* $(,)?)?
        }
    )*) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, Serialize, ToSchema)]
        pub struct $name {
            $( $(#[$fm])* pub $f: $t, )*
            $($( $(#[$cm])* pub $c: $ct, )*)?
        }

        impl From<$src> for $name {
            fn from(v: $src) -> $name {
                $name {
                    $($( $c: $fun($(v.$arg),*), )*)?
                    $( $f: view!(@conv $($conv)? v.$f) ),*
                }
            }
        }
    )*};
    (@conv each $e:expr) => { $e.into_iter().map(Into::into).collect() };
    (@conv $e:expr) => { $e.into() };
}

/// How rarely a stranger's face scores as close as a candidate's to one
/// listed person (per comparison: against a list of many, a stranger's
/// chance of some false match is about that many times higher), in colour
/// pictures and in gray ones (infrared cameras), measured separately: the
/// reviewer sees which the crop is.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct StrangerRate {
    /// False matches per comparison at the candidate's distance, colour pictures.
    pub per_comparison: f64,
    /// The measurement saw no colour stranger this close: the rate is at most this.
    pub upper_bound: bool,
    /// The same for gray pictures.
    pub gray_per_comparison: f64,
    pub gray_upper_bound: bool,
}

fn stranger_rate(kind: CandidateKind, distance: f64) -> Option<StrangerRate> {
    use civitas_model::face::{COLOUR_FMR, GRAY_FMR};
    (kind == CandidateKind::Face).then(|| {
        let (per_comparison, upper_bound) = COLOUR_FMR.at(distance as f32);
        let (gray_per_comparison, gray_upper_bound) = GRAY_FMR.at(distance as f32);
        StrangerRate {
            per_comparison,
            upper_bound,
            gray_per_comparison,
            gray_upper_bound,
        }
    })
}

/// Maps a list of store values to views.
pub(crate) fn list<S, V: From<S>>(items: Vec<S>) -> Vec<V> {
    items.into_iter().map(V::from).collect()
}

view! {
    /// One reviewer's decision on a candidate.
    pub struct ReviewRecord from civitas_store::ReviewRecord {
        username: String,
        decision: Decision,
        /// Why, in the reviewer's words.
        reason: String,
        /// When (Unix ms).
        at_ms: i64,
    }

    /// The legal basis an entry is held under, as shown to reviewers.
    pub struct BasisView from civitas_store::BasisView {
        id: i64,
        /// The kind of authorisation (a warrant, a court order, ...).
        kind: String,
        /// The body that authorised it.
        authority: String,
        /// Its reference at that body.
        reference: String,
        purpose: String,
        /// After this the entry stops matching (Unix ms).
        expires_at_ms: i64,
        /// `active`, or `refused` once withdrawn (expiry is `expires_at_ms`).
        status: String,
    }

    /// A candidate as the review queue shows it (images are fetched separately).
    /// It stays a candidate until people confirm it.
    pub struct CandidateView from civitas_store::CandidateView {
        id: i64,
        kind: CandidateKind,
        status: CandidateStatus,
        camera: String,
        /// The watchlist or hotlist entry it matched.
        entry_id: i64,
        entry_name: String,
        /// Distance to the entry (smaller is closer).
        distance: f64,
        detector_score: f64,
        /// When the frame was taken (Unix ms).
        frame_time_ms: i64,
        created_at_ms: i64,
        basis: BasisView,
        reviews: Vec<ReviewRecord> [each],
        has_crop: bool,
        has_entry_photo: bool,
        /// Plate candidates: the plate as read (voted over the pass).
        read_text: Option<String>,
        /// Plate candidates: the plate as listed.
        plate: Option<String>,
        /// Plate candidates: the hotlist it is on.
        hotlist: Option<String>;
        /// Face candidates: how rarely a stranger scores this close to an
        /// entry (the false-match rate per comparison at this distance,
        /// measured with `civitas eval identify`; see BENCHMARKS.md).
        stranger_rate: Option<StrangerRate> = stranger_rate(kind, distance),
    }

    /// Where a candidate stands after a review.
    pub struct ReviewOutcome from civitas_store::ReviewOutcome {
        candidate: i64,
        status: CandidateStatus,
        /// Different people who confirmed it so far.
        confirmations: usize,
        /// How many must confirm it.
        required: usize,
    }

    /// A watchlist or hotlist entry, without its templates.
    pub struct EntryView from civitas_store::EntryView {
        id: i64,
        name: String,
        created_at_ms: i64,
        /// Face templates held (0 for a plate).
        templates: i64,
        /// Cameras its legal basis covers (`*` for all).
        scope: Vec<String>,
        basis: BasisView,
        /// Hotlist entries: the plate (absent for a person).
        plate: Option<String>,
        /// Hotlist entries: the hotlist.
        hotlist: Option<String>,
    }

    /// A named list of plates with its own match threshold.
    pub struct Hotlist from civitas_store::Hotlist {
        id: i64,
        name: String,
        /// Most characters a read may differ by and still match.
        max_distance: f32,
        /// Entries on it.
        entries: u64,
    }

    /// A stored plate read, as a search returns it.
    pub struct PlateReadView from civitas_store::PlateReadView {
        id: i64,
        camera: String,
        plate: String,
        /// The plate format it fitted, if any.
        format: Option<String>,
        confidence: f32,
        /// Frames the read was voted over.
        frames: u32,
        /// The plate's box in the best frame (pixels).
        bbox: BBox,
        first_seen_ms: i64,
        last_seen_ms: i64,
        /// The hotlist entry it hit, if any.
        hit_entry: Option<i64>,
        hit_distance: Option<f32>,
        /// When retention deletes it (Unix ms).
        expires_at_ms: i64,
    }

    /// A camera event (went offline, came back, ...), as a search returns it.
    pub struct CameraEventView from civitas_store::CameraEventView {
        id: i64,
        camera: String,
        kind: CameraEventKind,
        detail: String,
        at_ms: i64,
    }

    /// A recording file.
    pub struct RecordingView from civitas_store::RecordingView {
        id: i64,
        camera: String,
        /// Relative to the recordings directory.
        path: String,
        /// `continuous` or `event`.
        kind: String,
        start_ms: i64,
        end_ms: i64,
        bytes: i64,
        state: RecordingState,
        /// Why it is lost or recovered, when it is.
        note: Option<String>,
        deleted_at_ms: Option<i64>,
        deleted_reason: Option<String>,
    }

    /// A unit as the console and the map show it.
    pub struct UnitView from civitas_store::UnitView {
        id: String,
        /// `police`, `ambulance`, `fire`, `rescue`, `traffic` or `other`.
        kind: String,
        name: String,
        status: UnitStatus,
        /// The incident it is assigned to.
        incident_id: Option<i64>,
        latitude: Option<f64>,
        longitude: Option<f64>,
        /// When the position was last reported (Unix ms).
        position_at_ms: Option<i64>,
        updated_at_ms: i64,
    }

    /// One step of an incident's checklist.
    pub struct SopStepView from civitas_store::SopStepView {
        step: i64,
        text: String,
        ticked_by: Option<String>,
        ticked_at_ms: Option<i64>,
    }

    /// One row of an incident's timeline.
    pub struct TimelineEntry from civitas_store::TimelineEntry {
        at_ms: i64,
        actor: String,
        /// `opened`, `status`, `unit.assigned`, `unit.released`, `sop.tick`, `note`, `link`, `camera.view`.
        kind: String,
        text: String,
    }

    /// Something linked to an incident.
    pub struct LinkView from civitas_store::LinkView {
        /// `candidate` or `plate_read`.
        kind: String,
        ref_id: i64,
        added_by: String,
        at_ms: i64,
    }

    /// An incident as the console shows it.
    pub struct IncidentView from civitas_store::IncidentView {
        id: i64,
        type_id: String,
        type_label: String,
        /// 1 (most urgent) to 5.
        priority: i64,
        status: IncidentStatus,
        source: IncidentSource,
        latitude: f64,
        longitude: f64,
        address: String,
        caller_name: String,
        caller_phone: String,
        notes: String,
        /// The camera it concerns (camera and candidate incidents).
        camera: Option<String>,
        /// A telephony system's call id.
        call_id: Option<String>,
        opened_by: String,
        opened_at_ms: i64,
        updated_at_ms: i64,
        closed_at_ms: Option<i64>,
        close_reason: Option<CloseReason>,
        /// Units assigned now.
        units: Vec<String>,
        sop: Vec<SopStepView> [each],
        timeline: Vec<TimelineEntry> [each],
        links: Vec<LinkView> [each],
    }

    /// How one destination (a webhook) is keeping up.
    pub struct DeliveryStatus from civitas_store::DeliveryStatus {
        destination: String,
        /// Events written but not yet acknowledged by it.
        pending: i64,
        delivered_total: i64,
        /// Failed attempts at its next event since the last success.
        attempts: i64,
        retries_total: i64,
        last_error: Option<String>,
        last_attempt_ms: Option<i64>,
        last_success_ms: Option<i64>,
    }

    /// A machine's bearer token, without the token.
    pub struct TokenView from civitas_store::TokenView {
        id: i64,
        /// Whom it acts as.
        username: String,
        /// What it is for (`cad-link`, `witness`, ...).
        label: String,
        /// The permissions it is narrowed to (all of its user's when absent).
        only: Option<Vec<String>>,
        created_at_ms: i64,
        /// After this it is refused (Unix ms).
        expires_at_ms: i64,
        revoked: bool,
    }
}
