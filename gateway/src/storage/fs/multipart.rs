//! Multipart uploads on the local directory.

use std::time::Duration;

use super::FsBackend;
use crate::conditions::Conditions;
use crate::error::S3Error;
use crate::storage::{
    BucketName, ByteStream, CompletedPart, ObjectKey, ObjectMeta, PartInfo, PartsPage,
    UploadOptions, UploadsPage, UploadsQuery,
};

impl FsBackend {
    pub(super) async fn mpu_create(
        &self,
        _bucket: &BucketName,
        _key: &ObjectKey,
        _options: UploadOptions,
    ) -> Result<String, S3Error> {
        Err(S3Error::not_implemented("CreateMultipartUpload"))
    }

    pub(super) async fn mpu_upload_part(
        &self,
        _bucket: &BucketName,
        _key: &ObjectKey,
        _upload_id: &str,
        _part_number: u32,
        _body: ByteStream,
        _content_length: u64,
    ) -> Result<PartInfo, S3Error> {
        Err(S3Error::not_implemented("UploadPart"))
    }

    pub(super) async fn mpu_list_parts(
        &self,
        _bucket: &BucketName,
        _key: &ObjectKey,
        _upload_id: &str,
        _marker: u32,
        _max_parts: usize,
    ) -> Result<PartsPage, S3Error> {
        Err(S3Error::not_implemented("ListParts"))
    }

    pub(super) async fn mpu_complete(
        &self,
        _bucket: &BucketName,
        _key: &ObjectKey,
        _upload_id: &str,
        _parts: &[CompletedPart],
        _conditions: &Conditions,
    ) -> Result<ObjectMeta, S3Error> {
        Err(S3Error::not_implemented("CompleteMultipartUpload"))
    }

    pub(super) async fn mpu_abort(
        &self,
        _bucket: &BucketName,
        _key: &ObjectKey,
        _upload_id: &str,
    ) -> Result<(), S3Error> {
        Err(S3Error::not_implemented("AbortMultipartUpload"))
    }

    pub(super) async fn mpu_list_uploads(
        &self,
        _bucket: &BucketName,
        _query: &UploadsQuery,
    ) -> Result<UploadsPage, S3Error> {
        Err(S3Error::not_implemented("ListMultipartUploads"))
    }

    pub(super) async fn mpu_sweep(&self, _older_than: Duration) -> Result<usize, S3Error> {
        Ok(0)
    }
}
