//! S3 Select (SelectObjectContent) for blobgate: the request document, the
//! SQL dialect executed on Apache DataFusion, and the event stream the
//! answer travels in. Storage-agnostic: the gateway hands it the object's
//! bytes (or ranges of them, for Parquet) and sends what it produces.
//!
//! Design notes: the design's S3-SELECT.md.

pub mod engine;
pub mod error;
pub mod eventstream;
pub mod functions;
pub mod jsonrows;
pub mod output;
pub mod parquet;
pub mod request;
pub mod respond;
pub mod scan;
pub mod translate;

pub use error::SelectError;
