//! `[incidents]`, `[[incident_type]]` and `[[unit]]`: the area served, the
//! incident types with their procedures, and the units that can be dispatched.

use crate::{bad, id_ok};
use civitas_base::Result;
use serde::{Deserialize, Serialize};

/// Emergency incidents.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    /// The region this centre serves, `[south, west, north, east]` in
    /// degrees; an incident located outside it is refused. Default: anywhere.
    pub area: Option<[f64; 4]>,
    /// Cameras within this distance of an incident are offered as "near" it, in metres. Default 1500.
    pub nearby_camera_radius_m: f64,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        IncidentsConfig {
            area: None,
            nearby_camera_radius_m: 1_500.0,
        }
    }
}

/// An incident type (`[[incident_type]]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentTypeConfig {
    /// Short id, letters, digits, - or _ (e.g. `robbery`).
    pub id: String,
    /// Shown to operators.
    pub label: String,
    /// Default priority, 1 (most urgent) to 5. Default 3.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// The standard operating procedure: steps in order.
    #[serde(default)]
    pub sop: Vec<String>,
}

fn default_priority() -> u8 {
    3
}

/// A unit (`[[unit]]`): a patrol car, an ambulance, a fire engine.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UnitConfig {
    /// Call sign, e.g. `P-11`.
    pub id: String,
    /// `police`, `ambulance`, `fire`, `rescue`, `traffic` or `other`.
    pub kind: String,
    pub name: String,
    /// Base position until the unit reports one.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl IncidentsConfig {
    pub fn validate(&self) -> Result<()> {
        if let Some([s, w, n, e]) = self.area
            && !(s < n
                && w < e
                && (-90.0..=90.0).contains(&s)
                && (-90.0..=90.0).contains(&n)
                && (-180.0..=180.0).contains(&w)
                && (-180.0..=180.0).contains(&e))
        {
            return bad(
                "incidents.area",
                format!(
                    "[{s}, {w}, {n}, {e}] is not [south, west, north, east] with south < north and west < east"
                ),
            );
        }
        let r = self.nearby_camera_radius_m;
        if !(10.0..=50_000.0).contains(&r) {
            return bad(
                "incidents.nearby_camera_radius_m",
                format!("{r} is outside 10..50000"),
            );
        }
        Ok(())
    }
}

/// Each `[[incident_type]]`: a unique id, a label, a priority, a bounded procedure.
pub fn validate_types(types: &[IncidentTypeConfig]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, t) in types.iter().enumerate() {
        let f = |n: &str| format!("incident_type[{i}].{n}");
        if !id_ok(&t.id) {
            return bad(
                &f("id"),
                format!("{:?} must be 1-40 letters, digits, - or _", t.id),
            );
        }
        if !seen.insert(&t.id) {
            return bad(
                &f("id"),
                format!("{:?} is used by two incident types", t.id),
            );
        }
        if t.label.trim().is_empty() {
            return bad(&f("label"), "is required".into());
        }
        if !(1..=5).contains(&t.priority) {
            return bad(&f("priority"), format!("{} is outside 1..5", t.priority));
        }
        if t.sop.len() > 50 || t.sop.iter().any(|s| s.trim().is_empty()) {
            return bad(&f("sop"), "must have at most 50 steps, none empty".into());
        }
    }
    Ok(())
}

/// Each `[[unit]]`: a unique id, a known kind, a name, a position or none.
pub fn validate_units(units: &[UnitConfig]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, u) in units.iter().enumerate() {
        let f = |n: &str| format!("unit[{i}].{n}");
        if !id_ok(&u.id) {
            return bad(
                &f("id"),
                format!("{:?} must be 1-40 letters, digits, - or _", u.id),
            );
        }
        if !seen.insert(&u.id) {
            return bad(&f("id"), format!("{:?} is used by two units", u.id));
        }
        if !civitas_model::incident::UNIT_KINDS.contains(&u.kind.as_str()) {
            return bad(
                &f("kind"),
                format!(
                    "{:?} is not one of {}",
                    u.kind,
                    civitas_model::incident::UNIT_KINDS.join(", ")
                ),
            );
        }
        if u.name.trim().is_empty() {
            return bad(&f("name"), "is required".into());
        }
        match (u.latitude, u.longitude) {
            (Some(la), Some(lo)) => {
                if let Err(e) = civitas_model::GeoPoint::checked(la, lo, None) {
                    return bad(&f("latitude"), e.message().to_owned());
                }
            }
            (None, None) => {}
            _ => {
                return bad(
                    &f("latitude"),
                    "give both latitude and longitude, or neither".into(),
                );
            }
        }
    }
    Ok(())
}
