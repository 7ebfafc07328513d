//! What the API tests share: a real store with users of every role and
//! candidates on camera `gate`, the router over it, and calls through it.
//! The store is a SQLite file, or with `CIVITAS_TEST_STORE=postgres` a
//! PostgreSQL database of its own (`scripts/test` runs both).
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civitas_api::{ApiState, CommandCentre, Settings, router};
use civitas_audit::AuditKey;
use civitas_auth::{Actor, Role};
use civitas_base::{SimClock, Timestamp};
use civitas_model::{BBox, CameraId, Candidate, EntryId, LegalBasis, TrackId};
use civitas_store::{Enrolment, ReviewPolicy, Store};
use std::sync::Arc;
use tower::ServiceExt;

pub const PW: &str = "correct horse battery staple";
pub const T0: i64 = 1_780_000_000_000;

pub struct Fixture {
    pub _db: civitas_store::testing::TestStore,
    pub app: axum::Router,
    pub doc: utoipa::openapi::OpenApi,
    pub console: Arc<CommandCentre>,
    pub clock: SimClock,
    pub store: Store,
}

pub fn jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 90]));
    let mut out = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut out),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    out
}

pub fn admin() -> Actor {
    Actor {
        username: "admin".into(),
        role: Role::Administrator,
        scope: vec!["*".into()],
    }
}

/// A store with users of every role and `n` candidates on camera `gate`.
pub async fn fixture(n: usize) -> Fixture {
    fixture_with(n, |_| {}).await
}

/// [`fixture`], with the console adjusted by `setup` before it serves.
pub async fn fixture_with(n: usize, setup: impl FnOnce(&mut CommandCentre)) -> Fixture {
    let db = civitas_store::testing::TestStore::new("api").await.unwrap();
    let key = Arc::new(AuditKey::from_seed([9; 32]));
    let store = db.open().await.unwrap().with_audit_key(key.clone());
    let now = Timestamp(T0);
    let h = civitas_auth::hash_password(PW).unwrap();
    store
        .add_user(None, "admin", Role::Administrator, &[], &h, now)
        .await
        .unwrap();
    for (u, r) in [
        ("sam", Role::Supervisor),
        ("olga", Role::Operator),
        ("omar", Role::Operator),
        ("aude", Role::Auditor),
        ("dora", Role::Operator),
    ] {
        store
            .add_user(Some(&admin()), u, r, &[], &h, now)
            .await
            .unwrap();
    }
    let sam = Actor {
        username: "sam".into(),
        role: Role::Supervisor,
        scope: vec!["*".into()],
    };
    let basis = LegalBasis {
        id: None,
        kind: "court-order".into(),
        authority: "Juzgado 3".into(),
        reference: "CASE-42".into(),
        purpose: "find a missing person".into(),
        granted_at: now,
        expires_at: Timestamp(T0 + 30 * 86_400_000),
    };
    let template: Vec<u8> = (0..128)
        .flat_map(|i| (i as f32 / 128.0).to_le_bytes())
        .collect();
    let entry = store
        .enroll(
            &sam,
            Enrolment::new(
                "Ana Example",
                &basis,
                &["*".into()],
                vec![("a.jpg".into(), template)],
            )
            .with_photo(Some(jpeg())),
            now,
        )
        .await
        .unwrap();
    for i in 0..n {
        let c = Candidate {
            id: None,
            camera: CameraId("gate".into()),
            track: TrackId(i as i64),
            entry,
            entry_name: "Ana Example".into(),
            distance: 0.3,
            detector_score: 0.9,
            bbox: BBox::new(0.0, 0.0, 10.0, 10.0),
            frame_time: now,
            offset_ms: 0,
            crop_jpeg: jpeg(),
        };
        store
            .insert_candidate(&c, now, &ReviewPolicy::default())
            .await
            .unwrap();
    }
    let clock = SimClock::at(Timestamp(T0 + 1000));
    let mut console = CommandCentre::new(
        store.clone(),
        Arc::new(clock.clone()),
        ReviewPolicy::default(),
        key.public(),
        Settings::default(),
    );
    setup(&mut console);
    let console = Arc::new(console);
    let (app, doc) = router(ApiState {
        push: Default::default(),
        console: Some(console.clone()),
    });
    let _ = EntryId(0);
    Fixture {
        _db: db,
        app,
        doc,
        console,
        clock,
        store,
    }
}

#[derive(Debug, Default, Clone)]
pub struct Who {
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

pub async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    who: &Who,
    body: Option<Vec<u8>>,
) -> Resp {
    call_with(app, method, path, who, body, &[]).await
}

/// [`call`] with extra request headers (`Range`, say).
pub async fn call_with(
    app: &axum::Router,
    method: &str,
    path: &str,
    who: &Who,
    body: Option<Vec<u8>>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(c) = &who.cookie {
        req = req.header(header::COOKIE, c);
    }
    if let Some(c) = &who.csrf {
        req = req.header("x-csrf-token", c);
    }
    if let Some(b) = &who.bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
    }
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let resp = app
        .clone()
        .oneshot(req.body(body.map(Body::from).unwrap_or_default()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    // An event stream never ends: only its status and headers are read here.
    let body = if headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t == "text/event-stream")
    {
        Vec::new()
    } else {
        axum::body::to_bytes(resp.into_body(), 16 << 20)
            .await
            .unwrap()
            .to_vec()
    };
    Resp {
        status,
        headers,
        body,
    }
}

pub fn json(v: serde_json::Value) -> Option<Vec<u8>> {
    Some(v.to_string().into_bytes())
}

pub async fn login(app: &axum::Router, user: &str) -> Who {
    let r = call(
        app,
        "POST",
        "/api/v1/session",
        &Who::default(),
        json(serde_json::json!({"username": user, "password": PW})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    let set = r.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    Who {
        cookie: Some(set.split(';').next().unwrap().to_owned()),
        csrf: r.json()["csrf_token"].as_str().map(str::to_owned),
        bearer: None,
    }
}

/// A user of each role for "lacks permission" checks.
pub fn user_of(role: Role) -> &'static str {
    match role {
        Role::Operator => "olga",
        Role::Supervisor => "sam",
        Role::Auditor => "aude",
        Role::Administrator => "admin",
    }
}

/// A self-signed certificate for 127.0.0.1 and its key, in `dir` under `name`.
pub fn certificate(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let ext = civitas_base::testing::server("IP:127.0.0.1");
    civitas_base::testing::certificate(dir, name, "/CN=civitas-test", None, &ext)
}
