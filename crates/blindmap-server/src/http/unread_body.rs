//! An HTTP/1 request whose body a handler answered without reading (a 401 before the JSON, a 404
//! before the upload) leaves the rest of that body on the connection, and hyper closes the
//! connection after the response unless the body happened to arrive already. A client that
//! sent the next request on it meanwhile sees the connection drop under that request. So such a
//! response says `Connection: close`: the client opens a new connection for the next request.
//! HTTP/2 streams need none of this (an unread stream is reset on its own).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;

/// Marks the response `Connection: close` when an HTTP/1 request came with a body the handler
/// did not read to its end.
pub(crate) async fn close_if_unread(request: Request, next: Next) -> Response {
    let http1 = matches!(request.version(), Version::HTTP_10 | Version::HTTP_11);
    let headers = request.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    if !(http1 && has_body) {
        return next.run(request).await;
    }
    let read_to_end = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&read_to_end);
    let (parts, body) = request.into_parts();
    let end = futures_util::stream::poll_fn(move |_| {
        flag.store(true, Ordering::Release);
        Poll::Ready(None)
    });
    let body = Body::from_stream(body.into_data_stream().chain(end));
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !read_to_end.load(Ordering::Acquire) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
