//! Reading an answer's body with a ceiling: a CRM's answer is untrusted, and one that never ends
//! must not fill the node's memory.

/// Why a body could not be read.
pub(crate) enum BodyError {
    /// Longer than the ceiling.
    TooLarge(usize),
    /// The connection failed while reading.
    Transport(reqwest::Error),
}

/// `response`'s body, refused past `max` bytes.
pub(crate) async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
