//! Emergency incidents and the units sent to them: the lifecycle rules
//! (which status may follow which, in words when refused), unit states,
//! closing reasons, where an incident is, and the operator-defined incident
//! types with their standard operating procedures. No I/O: the store applies
//! these rules inside its transactions, the API shows their refusals.

use civitas_base::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

pub use crate::status::{CloseReason, IncidentSource, IncidentStatus, UnitStatus};

impl IncidentStatus {
    /// Whether an incident in this status may move to `to`; the refusal says
    /// why and what the way forward is.
    pub fn check_transition(self, to: IncidentStatus, units_assigned: usize) -> Result<()> {
        use IncidentStatus::*;
        let refuse = |why: String| Err(Error::new(ErrorKind::FailedPrecondition, why));
        match (self, to) {
            (Closed, _) => refuse("the incident is already closed".into()),
            (a, b) if a == b => refuse(format!("the incident is already {}", a.name())),
            (New, Dispatched) | (Dispatched, OnScene) if units_assigned == 0 => {
                refuse("no unit is assigned: assign a unit first".into())
            }
            (New, Dispatched) | (Dispatched, OnScene) | (OnScene, Closed) => Ok(()),
            (New, Closed) | (Dispatched, Closed) => Ok(()),
            (New, OnScene) => refuse(
                "an incident cannot go from new to on_scene: it must be dispatched first (new → dispatched → on_scene → closed)"
                    .into(),
            ),
            (a, b) => refuse(format!(
                "an incident cannot go back from {} to {} (new → dispatched → on_scene → closed)",
                a.name(),
                b.name()
            )),
        }
    }
}

/// Kinds of unit. Free text is refused so the map and reports can group them.
pub const UNIT_KINDS: &[&str] = &["police", "ambulance", "fire", "rescue", "traffic", "other"];

/// A point on the Earth (WGS 84 degrees).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

impl GeoPoint {
    /// Checks the point is a real place, and inside `area` when one is set
    /// (the region this centre serves: `[south, west, north, east]`).
    pub fn checked(latitude: f64, longitude: f64, area: Option<[f64; 4]>) -> Result<GeoPoint> {
        if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
            return Err(Error::invalid(format!(
                "location: latitude {latitude} is not between -90 and 90"
            )));
        }
        if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
            return Err(Error::invalid(format!(
                "location: longitude {longitude} is not between -180 and 180"
            )));
        }
        if let Some([s, w, n, e]) = area
            && !(latitude >= s && latitude <= n && longitude >= w && longitude <= e)
        {
            return Err(Error::invalid(format!(
                "location: {latitude:.5}, {longitude:.5} is outside the area this centre serves (latitude {s}..{n}, longitude {w}..{e}; [incidents] area)"
            )));
        }
        Ok(GeoPoint {
            latitude,
            longitude,
        })
    }

    /// Great-circle distance in metres (haversine, mean Earth radius).
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        const R_M: f64 = 6_371_008.8;
        let (p1, p2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dp = p2 - p1;
        let dl = (other.longitude - self.longitude).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * R_M * a.sqrt().asin()
    }
}

/// An incident type an operator can choose, with its standard operating
/// procedure: the checklist worked through for every incident of the type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentType {
    /// Short id, e.g. `robbery`.
    pub id: String,
    /// Shown to operators, e.g. "Robbery in progress".
    pub label: String,
    /// Default priority, 1 (most urgent) to 5.
    pub priority: u8,
    /// The checklist, in order.
    pub sop: Vec<String>,
}

/// Checks a priority is 1..=5.
pub fn check_priority(p: i64) -> Result<u8> {
    if (1..=5).contains(&p) {
        Ok(p as u8)
    } else {
        Err(Error::invalid(format!(
            "priority {p} is not between 1 (most urgent) and 5"
        )))
    }
}

/// Finds `id` among `types`, or says which exist.
pub fn find_type<'a>(types: &'a [IncidentType], id: &str) -> Result<&'a IncidentType> {
    types.iter().find(|t| t.id == id.trim()).ok_or_else(|| {
        let ids: Vec<&str> = types.iter().map(|t| t.id.as_str()).collect();
        Error::invalid(format!(
            "unknown incident type {id:?}; this centre has {}",
            if ids.is_empty() {
                "none configured ([[incident_type]] in the config)".to_owned()
            } else {
                ids.join(", ")
            }
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use IncidentStatus::*;

    #[test]
    fn the_lifecycle_goes_forward_only_and_says_why_not() {
        assert!(New.check_transition(Dispatched, 1).is_ok());
        assert!(Dispatched.check_transition(OnScene, 1).is_ok());
        assert!(OnScene.check_transition(Closed, 1).is_ok());
        assert!(New.check_transition(Closed, 0).is_ok());
        assert!(Dispatched.check_transition(Closed, 1).is_ok());
        let skip = New.check_transition(OnScene, 1).unwrap_err();
        assert_eq!(skip.kind(), ErrorKind::FailedPrecondition);
        assert!(skip.message().contains("dispatched first"), "{skip}");
        let twice = Closed.check_transition(Closed, 0).unwrap_err();
        assert!(twice.message().contains("already closed"), "{twice}");
        let back = OnScene.check_transition(Dispatched, 1).unwrap_err();
        assert!(back.message().contains("go back"), "{back}");
        let nobody = New.check_transition(Dispatched, 0).unwrap_err();
        assert!(nobody.message().contains("assign a unit"), "{nobody}");
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused_in_words() {
        for s in IncidentStatus::ALL {
            assert_eq!(IncidentStatus::parse(s.name()).unwrap(), s);
        }
        for s in UnitStatus::ALL {
            assert_eq!(UnitStatus::parse(s.name()).unwrap(), s);
        }
        for r in CloseReason::ALL {
            assert_eq!(CloseReason::parse(r.name()).unwrap(), r);
        }
        assert!(
            UnitStatus::parse("lunch")
                .unwrap_err()
                .message()
                .contains("out_of_service")
        );
        assert!(CloseReason::parse("").is_err());
    }

    #[test]
    fn locations_must_be_real_and_inside_the_served_area() {
        let quito = Some([-0.4, -78.7, 0.0, -78.3]);
        assert!(GeoPoint::checked(-0.22, -78.51, quito).is_ok());
        let far = GeoPoint::checked(-2.19, -79.89, quito).unwrap_err();
        assert!(far.message().contains("outside the area"), "{far}");
        assert!(GeoPoint::checked(91.0, 0.0, None).is_err());
        assert!(GeoPoint::checked(f64::NAN, 0.0, None).is_err());
        assert!(GeoPoint::checked(0.0, 181.0, None).is_err());
    }

    #[test]
    fn distances_are_great_circle_metres() {
        let a = GeoPoint {
            latitude: -0.2202,
            longitude: -78.5123,
        };
        let b = GeoPoint {
            latitude: -0.1807,
            longitude: -78.4678,
        };
        // 0.0395° of latitude and 0.0445° of longitude at the equator ≈ 6.6 km.
        let d = a.distance_m(&b);
        assert!((6500.0..6700.0).contains(&d), "{d}");
        assert!(a.distance_m(&a) < 1e-6);
    }

    #[test]
    fn unknown_types_name_the_known_ones() {
        let types = vec![IncidentType {
            id: "robbery".into(),
            label: "Robbery".into(),
            priority: 2,
            sop: vec![],
        }];
        assert!(find_type(&types, "robbery").is_ok());
        let e = find_type(&types, "alien-landing").unwrap_err();
        assert!(e.message().contains("robbery"), "{e}");
        assert!(check_priority(0).is_err());
        assert_eq!(check_priority(3).unwrap(), 3);
    }
}
