//! Request bodies are read only up to what each route needs, and only after the caller is
//! authenticated where it can be: a body of any size sent to a route that takes a few KiB costs
//! the node a few KiB. Uploads stream to a temporary file, a few at a time.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use blindmap_server::{Limits, app};
use blindmap_store::Role;
use bytes::Bytes;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::common::Captured;

/// A body of `len` bytes that counts what was read of it.
fn counted(len: usize, read: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Body {
    let chunk = Bytes::from(vec![b'a'; 64 << 10]);
    let chunks = len.div_ceil(chunk.len());
    let stream = futures_util::stream::iter((0..chunks).map(move |_| {
        read.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
        Ok::<_, std::io::Error>(chunk.clone())
    }));
    Body::from_stream(stream)
}

/// A body that arrives as the test sends its chunks, and ends when the sender is dropped.
fn arriving() -> (tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>, Body) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let body =
        Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) }));
    (tx, body)
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String, axum::http::HeaderMap) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), headers)
}

/// Sends `len` bytes to `uri`; the status, and how many bytes the node read.
async fn post_large(
    app: &Router,
    uri: &str,
    token: Option<&str>,
    content_type: &str,
    len: usize,
) -> (StatusCode, usize) {
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut request = Request::post(uri).header(header::CONTENT_TYPE, content_type);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let (status, _, _) = send(app, request.body(counted(len, read.clone())).unwrap()).await;
    (status, read.load(std::sync::atomic::Ordering::Relaxed))
}

#[tokio::test]
async fn each_route_reads_only_what_it_needs() {
    let (store, _dir) = blindmap_store::testing::sqlite().await;
    let org = store.create_organisation("Vendor").await.unwrap();
    let admin = store.create_user(&org.id, "ada", Role::Admin).await.unwrap();
    let token = store.issue_token(&org.id, &admin.id, "t").await.unwrap().1.expose().to_owned();
    let app = app(store, Limits::default());
    const LARGE: usize = 64 << 20;
    // Without a token: refused before the body is read.
    for uri in ["/api/v1/users", "/api/v1/datasets?name=x.csv", "/api/v1/cosell"] {
        let (status, read) = post_large(&app, uri, None, "application/json", LARGE).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(read <= 256 << 10, "{uri}: read {read} bytes before refusing");
    }
    // A peer route without a partner's certificate: refused before the body is read.
    let (status, read) = post_large(
        &app,
        "/peer/v1/partnerships/pt_00000000000000000000000000000000/cosell",
        None,
        "application/json",
        LARGE,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(read <= 256 << 10, "read {read} bytes before refusing");
    // Routes that must read to decide: no more than their limit (and what the transport buffers).
    for (uri, content_type, token) in [
        ("/api/v1/users", "application/json", Some(token.as_str())),
        ("/peer/v1/accept", "application/json", None),
        ("/signin", "application/x-www-form-urlencoded", None),
        ("/signin/link", "application/x-www-form-urlencoded", None),
    ] {
        let (status, read) = post_large(&app, uri, token, content_type, LARGE).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}");
        assert!(read <= 1 << 20, "{uri}: read {read} bytes of {LARGE}");
    }
}

#[tokio::test]
async fn uploads_stream_under_their_limit_and_a_few_at_a_time() {
    let (store, _dir) = blindmap_store::testing::sqlite().await;
    let org = store.create_organisation("Vendor").await.unwrap();
    let admin = store.create_user(&org.id, "ada", Role::Admin).await.unwrap();
    let token = store.issue_token(&org.id, &admin.id, "t").await.unwrap().1.expose().to_owned();
    let limits = Limits { max_body_bytes: 4 << 20, max_concurrent_uploads: 1, ..Limits::default() };
    let app = app(store, limits);
    let bearer = format!("Bearer {token}");

    // Over the upload limit: 413, having read no more than the limit.
    let (status, read) = post_large(&app, "/api/v1/datasets?name=x.csv", Some(&token), "text/csv", 64 << 20).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(read <= 5 << 20, "read {read} bytes");

    // One upload in progress (its body still arriving): a second is told to come back later.
    let (tx, slow) = arriving();
    let first = Request::post("/api/v1/datasets?name=first.csv")
        .header(header::AUTHORIZATION, &bearer)
        .header(header::CONTENT_TYPE, "text/csv")
        .body(slow)
        .unwrap();
    let first = tokio::spawn({
        let app = app.clone();
        async move { send(&app, first).await }
    });
    tx.send(Ok(Bytes::from_static(b"id,segment,domain\n"))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = Request::post("/api/v1/datasets?name=second.csv")
        .header(header::AUTHORIZATION, &bearer)
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from("id,segment,domain\nb1,customers,bluebird-tools.com\n"))
        .unwrap();
    let (status, problem, headers) = send(&app, second).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert!(headers.get(header::RETRY_AFTER).is_some(), "says when to retry");
    tx.send(Ok(Bytes::from_static(b"a1,customers,acme-widgets.com\n"))).await.unwrap();
    drop(tx);
    let (status, dataset, _) = first.await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{dataset}");
    let dataset: serde_json::Value = serde_json::from_str(&dataset).unwrap();
    assert_eq!(dataset["accounts"], 1);
}

/// A token, its organisation's id, and the admin token of a second organisation.
async fn two_organisations(store: &blindmap_store::Store) -> (String, String, String) {
    let mut tokens = Vec::new();
    for (org, user) in [("Vendor", "ada"), ("Vendor", "bob"), ("Other", "oz")] {
        let org = match store.organisations().await.unwrap().into_iter().find(|o| o.name == org) {
            Some(o) => o,
            None => store.create_organisation(org).await.unwrap(),
        };
        let admin = store.create_user(&org.id, user, Role::Admin).await.unwrap();
        tokens.push(store.issue_token(&org.id, &admin.id, "t").await.unwrap().1.expose().to_owned());
    }
    (tokens[0].clone(), tokens[1].clone(), tokens[2].clone())
}

async fn me(app: &Router, token: &str) -> (StatusCode, String, axum::http::HeaderMap) {
    let request = Request::get("/api/v1/me").header(header::AUTHORIZATION, format!("Bearer {token}"));
    send(app, request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn rates_are_limited_per_token_and_per_organisation_with_retry_after() {
    let (store, _dir) = blindmap_store::testing::sqlite().await;
    let (ada, bob, oz) = two_organisations(&store).await;
    let throttle = blindmap_server::ThrottleConfig {
        per_credential_per_minute: 60,
        per_organisation_per_minute: 90,
        ..blindmap_server::ThrottleConfig::default()
    };
    let app = app(store, Limits { throttle, ..Limits::default() });
    // A token's burst (a tenth of its minute) passes, then 429 says when to come back.
    for _ in 0..6 {
        assert_eq!(me(&app, &ada).await.0, StatusCode::OK);
    }
    let (status, problem, headers) = me(&app, &ada).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    let retry: u64 = headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "about a second per request at 60 a minute: {retry}");
    assert!(problem.contains("too many requests with this credential"), "{problem}");
    // Another token of the organisation, until the organisation's own burst is spent.
    for _ in 0..3 {
        assert_eq!(me(&app, &bob).await.0, StatusCode::OK);
    }
    assert_eq!(me(&app, &bob).await.0, StatusCode::TOO_MANY_REQUESTS, "the organisation's nine are spent");
    // Another organisation is not slowed by this one.
    for _ in 0..6 {
        assert_eq!(me(&app, &oz).await.0, StatusCode::OK);
    }
    // Once the wait is over, the token is served again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(me(&app, &ada).await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_organisation_holding_its_share_does_not_hold_up_another() {
    let (store, _dir) = blindmap_store::testing::sqlite().await;
    let (ada, _, oz) = two_organisations(&store).await;
    let throttle = blindmap_server::ThrottleConfig {
        per_credential_per_minute: 0,
        per_organisation_per_minute: 0,
        concurrent_per_organisation: 2,
        queue_wait: Duration::from_secs(20),
        ..blindmap_server::ThrottleConfig::default()
    };
    let app = app(store, Limits { throttle, ..Limits::default() });
    // The vendor's two places are taken by requests whose bodies are still arriving.
    let mut senders = Vec::new();
    let mut held = Vec::new();
    for _ in 0..2 {
        let (tx, body) = arriving();
        let request = Request::post("/api/v1/users")
            .header(header::AUTHORIZATION, format!("Bearer {ada}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .unwrap();
        let app = app.clone();
        held.push(tokio::spawn(async move { send(&app, request).await }));
        senders.push(tx);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The vendor's third request waits its turn; the other organisation is served meanwhile.
    let vendor = tokio::spawn({
        let app = app.clone();
        async move { me(&app, &ada).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(me(&app, &oz).await.0, StatusCode::OK);
    assert!(!vendor.is_finished(), "the vendor's third request waits for a place");
    // A place comes back when its request ends, and the waiting request runs.
    senders.remove(0).send(Ok(Bytes::from_static(br#"{"name": "kim", "role": "rep"}"#))).await.unwrap();
    let (status, body, _) = vendor.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    for tx in senders {
        tx.send(Ok(Bytes::from_static(br#"{"name": "lou", "role": "rep"}"#))).await.unwrap();
    }
    for request in held {
        let (status, body, _) = request.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

#[tokio::test]
async fn request_logs_name_the_route_not_the_ids_in_its_path() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (store, _dir) = blindmap_store::testing::sqlite().await;
    let org = store.create_organisation("Vendor").await.unwrap();
    let admin = store.create_user(&org.id, "ada", Role::Admin).await.unwrap();
    let token = store.issue_token(&org.id, &admin.id, "t").await.unwrap().1.expose().to_owned();
    let app = app(store, Limits::default());
    for uri in [
        "/api/v1/attribution/opportunities/ACME-RENEWAL-2027-Q3",
        "/api/v1/datasets/ds_0123456789abcdef0123456789abcdef?secret=a-file-name.csv",
        "/nowhere/0015g00000NWTRdAAF",
    ] {
        let request = Request::get(uri).header(header::AUTHORIZATION, format!("Bearer {token}"));
        send(&app, request.body(Body::empty()).unwrap()).await;
    }
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("/api/v1/attribution/opportunities/{opportunity}"), "{log}");
    assert!(log.contains("/api/v1/datasets/{id}") && log.contains("(no such route)"), "{log}");
    for value in ["ACME-RENEWAL", "0123456789abcdef", "a-file-name", "0015g00000NWTRdAAF"] {
        assert!(!log.contains(value), "{value} reached the log:\n{log}");
    }
}
