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
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let slow =
        Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) }));
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
