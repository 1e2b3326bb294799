//! Errors of S3 Select, with the codes AWS documents for it.
//!
//! Before the response has started they are sent as an ordinary S3 XML
//! error with their HTTP status; after that, as an error event of the
//! stream.

use std::borrow::Cow;
use std::fmt;

/// An S3 Select error: an AWS error code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectError {
    /// The AWS code, e.g. `InvalidExpressionType`, `CSVParsingError`.
    pub code: &'static str,
    pub message: Cow<'static, str>,
}

impl SelectError {
    pub fn new(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        SelectError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status the error has when it is sent before the stream
    /// starts: 400 for everything but InternalError (500) and Busy (503).
    pub fn status(&self) -> u16 {
        match self.code {
            "InternalError" => 500,
            "Busy" => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for SelectError {}
