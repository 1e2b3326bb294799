//! blobgate: an S3-compatible gateway that stores objects in an Azure Blob
//! storage account or, by default, in a local directory.
//!
//! Request flow: [`server`] accepts and authenticates (building the
//! [`request`] state every handler reads), [`router`] names the
//! operation, [`access`] authorizes it, [`ops`] handles it against a [`storage::Backend`], and every
//! failure is an [`error::S3Error`] rendered once as S3 XML. [`observe`]
//! gives each request its span, its log line and its [`metrics`]. [`console`]
//! serves the web console's files, a client of the same API.

pub mod access;
pub mod body;
pub mod conditions;
pub mod config;
pub mod console;
pub mod cors;
pub mod error;
pub mod identity;
pub mod logging;
pub mod metrics;
pub mod observe;
pub mod ops;
pub mod range;
pub mod request;
pub mod router;
pub mod server;
pub mod storage;
pub mod tls;
pub mod xml;
