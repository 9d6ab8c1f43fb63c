//! `Json` and `Query` as the API uses them: the same as axum's, but a request they cannot read
//! (no JSON content type, malformed JSON, a missing field, a query parameter of the wrong type)
//! is answered with a problem document, like every other error, with axum's status and message:
//! 415 without the JSON content type, 400 for what is not JSON, 422 for JSON of another shape,
//! 400 for query parameters. The OpenAPI document states these once for every route
//! (`api::contract::CommonResponses`).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::http::error::ApiError;
use crate::service::text::{NUL_IN_TEXT, holds_nul};

/// A JSON request body, or a JSON response.
pub(crate) struct Json<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let mut value = match axum::Json::<Value>::from_request(request, state).await {
            Ok(axum::Json(value)) => value,
            Err(r) => return Err(ApiError::Rejected { status: r.status(), detail: r.body_text() }),
        };
        // Every body the node takes is an object (or `null` where a body is optional); serde
        // would read a struct from an array of its fields too, and `[]` as all defaults.
        if !(value.is_object() || value.is_null()) {
            return Err(ApiError::Rejected {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail: "the body must be a JSON object".to_owned(),
            });
        }
        integral_numbers_as_integers(&mut value);
        if holds_nul(&value) {
            return Err(ApiError::Rejected {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail: NUL_IN_TEXT.to_owned(),
            });
        }
        T::deserialize(value).map(Self).map_err(|e| ApiError::Rejected {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: format!("Failed to deserialize the JSON body into the target type: {e}"),
        })
    }
}

/// JSON has one kind of number, and JSON Schema counts `71.0` an integer as it counts `71`;
/// serde takes an integer field only from a number written without a fraction. So a number with
/// no fractional part, in the 64-bit range, is made an integer before the body is read.
fn integral_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0) {
                // 2^63 and 2^64 are exact as floats: the bounds of the integers they hold.
                if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
                    *n = serde_json::Number::from(f as i64);
                } else if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                    *n = serde_json::Number::from(f as u64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON request body that may be left out: an empty body (or one of blanks only) is `None`,
/// anything else is read as [`Json`] reads it (`null` too is `None`).
pub(crate) struct OptionalJson<T>(pub(crate) Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|r| ApiError::Rejected { status: r.status(), detail: r.body_text() })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        Json::<Option<T>>::from_request(request, state).await.map(|Json(value)| Self(value))
    }
}

/// Query parameters.
pub(crate) struct Query<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(r) => Err(ApiError::Rejected { status: r.status(), detail: r.body_text() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_numbers_are_read_as_integers_and_others_are_not() {
        let mut value = serde_json::json!({ "a": 71.0, "b": [1e2, -3.0, 2.5], "c": 1e30, "d": 7, "e": "8.0" });
        integral_numbers_as_integers(&mut value);
        assert_eq!(value, serde_json::json!({ "a": 71, "b": [100, -3, 2.5], "c": 1e30, "d": 7, "e": "8.0" }));
        let mut big = serde_json::json!(1.8e19);
        integral_numbers_as_integers(&mut big);
        assert_eq!(serde_json::from_value::<u64>(big).unwrap(), 18_000_000_000_000_000_000);
    }

    #[tokio::test]
    async fn a_body_is_an_object_not_its_fields_in_an_array() {
        #[derive(serde::Deserialize)]
        #[serde(default)]
        #[allow(dead_code, reason = "only read")]
        struct AllDefaults {
            days: u32,
        }
        impl Default for AllDefaults {
            fn default() -> Self {
                Self { days: 90 }
            }
        }
        let read = |body: &'static str| {
            let request = axum::http::Request::post("/")
                .header(axum::http::header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(body))
                .unwrap();
            Json::<AllDefaults>::from_request(request, &())
        };
        assert!(read("{}").await.is_ok());
        assert!(read("{\"days\": 3}").await.is_ok());
        for body in ["[]", "[3]", "\"x\"", "3"] {
            let Err(ApiError::Rejected { status, .. }) = read(body).await else { panic!("{body} was read") };
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        }
    }
}
