//! Uploads written to disk as they arrive: an API body or a page's file field streams into an
//! unnamed temporary file, so that a node never holds a file in memory, whatever its size.

use axum::http::StatusCode;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::error::ApiError;

/// An upload written to an unnamed temporary file (gone when dropped), with its SHA-256 and size.
pub(crate) struct Spooled {
    pub(crate) file: std::fs::File,
    pub(crate) sha256: [u8; 32],
    pub(crate) bytes: u64,
}

/// Streams `body` to a temporary file, refusing it (413) past `limit` bytes and (422) if it
/// holds a NUL byte (no text export does; a binary file is not an export).
pub(crate) async fn spool<E: std::fmt::Display>(
    body: impl Stream<Item = Result<Bytes, E>>,
    limit: usize,
) -> Result<Spooled, ApiError> {
    use sha2::{Digest, Sha256};
    use tokio::io::AsyncWriteExt;
    let too_large = || ApiError::Rejected {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        detail: format!("the upload is larger than this node accepts ({} MiB: max_body_mib)", limit >> 20),
    };
    let spool_failed = |e: std::io::Error| {
        tracing::error!(error = %e, "cannot write an upload to a temporary file");
        ApiError::Unavailable("the node cannot store the upload for import (temporary files)")
    };
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(|e| spool_failed(std::io::Error::other(e)))?
        .map_err(spool_failed)?;
    let mut writer = tokio::io::BufWriter::new(tokio::fs::File::from_std(file));
    let mut hash = Sha256::new();
    let mut written = 0usize;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::Rejected {
            status: StatusCode::BAD_REQUEST,
            detail: format!("the upload could not be read to its end: {e}"),
        })?;
        written += chunk.len();
        if written > limit {
            return Err(too_large());
        }
        if chunk.contains(&0) {
            return Err(ApiError::Invalid(format!("the file holds a NUL byte: {}", crate::service::text::NUL_IN_TEXT)));
        }
        hash.update(&chunk);
        writer.write_all(&chunk).await.map_err(spool_failed)?;
    }
    writer.flush().await.map_err(spool_failed)?;
    let mut file = writer.into_inner().into_std().await;
    std::io::Seek::rewind(&mut file).map_err(spool_failed)?;
    Ok(Spooled { file, sha256: hash.finalize().into(), bytes: written as u64 })
}
