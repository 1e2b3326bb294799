//! Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload, ListParts and
//! ListMultipartUploads. The rules shared by the backends live in
//! `storage::multipart`; here are the HTTP forms.

use http::{Response, StatusCode};

use super::bucket::write_owner;
use super::copy::{check_source, copy_source, read_source, CopySource};
use super::list::{bool_str, url_encoder, url_encoding};
use super::object::{content_headers, required_length, set_etag, user_metadata};
use super::{empty_response, iso8601, request_body, xml_response};
use crate::body::ResponseBody;
use crate::conditions::Conditions;
use crate::error::{S3Error, S3ErrorCode};
use crate::range::ByteRange;
use crate::request::{Gateway, S3Request};
use crate::storage::multipart::{
    assemble, check_order, no_such_upload, plausible_upload_id, MAX_PART_NUMBER, MAX_PART_SIZE,
};
use crate::storage::parts::{algorithm_of, checksum_type, completed_checksum, declared_checksum};
use crate::storage::{
    BucketName, ByteStream, ChecksumSource, CompletedPart, ObjectKey, StoredChecksum,
    UploadOptions, UploadsQuery,
};
use crate::xml::{self, XmlWriter};
use blobgate_auth::{ChecksumAlgorithm, Checksummer};

/// Most parts or uploads one listing page returns.
const MAX_PAGE: usize = 1000;
/// Most parts a Complete may name.
const MAX_COMPLETE_PARTS: usize = MAX_PART_NUMBER as usize;

fn upload_id(req: &S3Request) -> Result<String, S3Error> {
    let id = req.query.get("uploadId").unwrap_or_default();
    if !plausible_upload_id(id) {
        return Err(no_such_upload());
    }
    Ok(id.to_owned())
}

fn part_number(req: &S3Request) -> Result<u32, S3Error> {
    req.query
        .get("partNumber")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })
}

/// A page size query parameter: default and cap 1000.
fn page_size(req: &S3Request, name: &str) -> Result<usize, S3Error> {
    match req.query.get(name) {
        None => Ok(MAX_PAGE),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| (n as usize).min(MAX_PAGE))
            .ok_or_else(|| {
                S3Error::invalid_argument(format!("{name} must be a non-negative integer"))
            }),
    }
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html>
pub async fn handle_create_multipart_upload(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let headers = &req.parts.headers;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let checksum = declared_checksum(
        text("x-amz-checksum-algorithm"),
        text("x-amz-checksum-type"),
    )?;
    let options = UploadOptions {
        headers: content_headers(headers),
        user_metadata: user_metadata(headers)?,
        tags: super::tagging::header_tags(headers)?,
        checksum: checksum.clone(),
    };
    let id = gateway
        .backend
        .create_multipart_upload(bucket, key, options)
        .await?;
    let mut x = XmlWriter::new();
    x.open_root("InitiateMultipartUploadResult");
    x.elem("Bucket", bucket.as_str());
    x.elem("Key", key.as_str());
    x.elem("UploadId", &id);
    x.close("InitiateMultipartUploadResult");
    let mut response = xml_response(x.finish());
    if let Some(c) = &checksum {
        let h = response.headers_mut();
        for (name, value) in [
            ("x-amz-checksum-algorithm", c.algorithm.as_str()),
            ("x-amz-checksum-type", c.type_name()),
        ] {
            if let Ok(v) = http::HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        }
    }
    Ok(response)
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html>
pub async fn handle_upload_part(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let number = part_number(&req)?;
    let id = upload_id(&req)?;
    let length = required_length(&req)?;
    let (body, checksum) = request_body(gateway, req)?;
    let part = gateway
        .backend
        .upload_part(bucket, key, &id, number, body, length, Some(checksum))
        .await?;
    let mut response = empty_response(StatusCode::OK);
    set_etag(response.headers_mut(), &part.etag);
    if let Some(c) = &part.checksum {
        set_checksum(response.headers_mut(), c);
    }
    Ok(response)
}

/// Parse `x-amz-copy-source-range: bytes=FIRST-LAST` against the source size.
fn copy_source_range(req: &S3Request, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(v) = req.parts.headers.get("x-amz-copy-source-range") else {
        return Ok(None);
    };
    let bad = || {
        S3Error::invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let (first, last) = v
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)))
        .ok_or_else(bad)?;
    if first > last || last >= size {
        return Err(S3Error::invalid_argument(format!(
            "Range specified is not valid for source object of size: {size}"
        )));
    }
    Ok(Some((first, last)))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html>
pub async fn handle_upload_part_copy(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let number = part_number(&req)?;
    let id = upload_id(&req)?;
    let CopySource {
        bucket: src_bucket,
        key: src_key,
    } = copy_source(gateway, &req).await?;
    let conditions = Conditions::from_copy_source_headers(&req.parts.headers);
    let meta = check_source(gateway, &src_bucket, &src_key, &conditions).await?;
    let range = copy_source_range(&req, meta.size)?;
    let (first, last) = match range {
        Some(r) => r,
        None if meta.size == 0 => (0, 0),
        None => (0, meta.size - 1),
    };
    let length = if meta.size == 0 { 0 } else { last - first + 1 };
    if length > MAX_PART_SIZE {
        return Err(S3Error::new(
            S3ErrorCode::EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed object size.",
        ));
    }
    let range = (meta.size > 0).then_some(ByteRange::From {
        first,
        last: Some(last),
    });
    // S3 computes a copied part's checksum when the upload declared one.
    let declared = gateway
        .backend
        .list_parts(bucket, key, &id, 0, 0)
        .await?
        .checksum;
    let source = read_source(gateway, &src_bucket, &src_key, &meta, range).await?;
    let (body, checksum) = match declared {
        Some(c) => {
            let (body, sum) = checksummed(source.body, algorithm_of(&c.algorithm)?);
            (body, Some(sum))
        }
        None => (source.body, None),
    };
    let part = gateway
        .backend
        .upload_part(bucket, key, &id, number, body, length, checksum)
        .await?;
    let mut x = XmlWriter::new();
    x.open_root("CopyPartResult");
    x.elem(
        "LastModified",
        &iso8601(std::time::UNIX_EPOCH + std::time::Duration::from_millis(part.last_modified_ms)),
    );
    x.elem("ETag", &format!("\"{}\"", part.etag));
    if let Some(c) = &part.checksum {
        x.elem(&format!("Checksum{}", c.algorithm), &c.value);
    }
    x.close("CopyPartResult");
    Ok(xml_response(x.finish()))
}

/// A body that computes its checksum as it streams; the checksum is in
/// the source once the body ended cleanly.
fn checksummed(body: ByteStream, alg: ChecksumAlgorithm) -> (ByteStream, ChecksumSource) {
    use futures_util::StreamExt;
    let outcome = blobgate_auth::BodyOutcome::default();
    let done = outcome.clone();
    let state = (body, Some(Checksummer::new(alg)), 0u64);
    let stream = futures_util::stream::unfold(state, move |(mut body, mut sum, mut len)| {
        let done = done.clone();
        async move {
            match body.next().await {
                Some(Ok(chunk)) => {
                    if let Some(s) = sum.as_mut() {
                        s.update(&chunk);
                    }
                    len += chunk.len() as u64;
                    Some((Ok(chunk), (body, sum, len)))
                }
                // A failed body never records a checksum.
                Some(Err(e)) => Some((Err(e), (body, None, len))),
                None => {
                    if let Some(s) = sum.take() {
                        done.complete_with((alg, s.finish_base64()), len);
                    }
                    None
                }
            }
        }
    });
    (Box::pin(stream), ChecksumSource(outcome))
}

/// Parse the CompleteMultipartUpload document.
fn completed_parts(doc: &[u8]) -> Result<Vec<CompletedPart>, S3Error> {
    let root = xml::parse(doc)?;
    if root.name != "CompleteMultipartUpload" {
        return Err(S3Error::malformed_xml());
    }
    let mut parts = Vec::new();
    for p in root.children_named("Part") {
        let number = p
            .child("PartNumber")
            .and_then(|n| n.text.trim().parse::<u32>().ok())
            .ok_or_else(S3Error::malformed_xml)?;
        let etag = p.child("ETag").ok_or_else(S3Error::malformed_xml)?;
        if parts.len() == MAX_COMPLETE_PARTS {
            return Err(S3Error::malformed_xml());
        }
        let checksum = ChecksumAlgorithm::ALL.into_iter().find_map(|alg| {
            let value = p.child(&format!("Checksum{}", alg.name()))?;
            Some(StoredChecksum {
                algorithm: alg.name().to_owned(),
                value: value.text.trim().to_owned(),
            })
        });
        parts.push(CompletedPart {
            part_number: number,
            etag: etag.text.trim().to_owned(),
            checksum,
        });
    }
    if parts.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    Ok(parts)
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html>
pub async fn handle_complete_multipart_upload(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let id = upload_id(&req)?;
    let conditions = Conditions::from_headers(&req.parts.headers);
    // x-amz-checksum-* on a Complete are the object's checksum the client
    // expects, not the request body's: they must not be checked against it.
    let mut req = req;
    let mut expected = None;
    for alg in ChecksumAlgorithm::ALL {
        if let Some(v) = req.parts.headers.remove(alg.header_name()) {
            expected = Some(StoredChecksum {
                algorithm: alg.name().to_owned(),
                value: String::from_utf8_lossy(v.as_bytes()).trim().to_owned(),
            });
        }
    }
    let expected_type = req
        .parts
        .headers
        .get("x-amz-checksum-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
    let host = req
        .parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let (body, _) = request_body(gateway, req)?;
    let doc = xml::read_body_capped(body).await?;
    let parts = completed_parts(&doc)?;
    check_order(&parts)?;
    if expected.is_some() || expected_type.is_some() {
        check_expected_checksum(gateway, (bucket, key, &id), &parts, expected, expected_type)
            .await?;
    }
    let meta = gateway
        .backend
        .complete_multipart_upload(bucket, key, &id, &parts, &conditions)
        .await?;
    let mut x = XmlWriter::new();
    x.open_root("CompleteMultipartUploadResult");
    x.elem(
        "Location",
        &format!("http://{host}/{bucket}/{}", url_encoder(true)(key.as_str())),
    );
    x.elem("Bucket", bucket.as_str());
    x.elem("Key", key.as_str());
    x.elem("ETag", &format!("\"{}\"", meta.etag));
    if let Some(c) = &meta.checksum {
        x.elem(&format!("Checksum{}", c.algorithm), &c.value);
        x.elem("ChecksumType", checksum_type(c));
    }
    x.close("CompleteMultipartUploadResult");
    Ok(xml_response(x.finish()))
}

/// The object checksum and checksum type a Complete request says it
/// expects (`x-amz-checksum-<algorithm>`, `x-amz-checksum-type`), checked
/// against the upload before anything is committed: a different type is
/// InvalidRequest, a different value BadDigest. When the upload cannot be
/// read here (completed meanwhile, a part missing) the backend's Complete
/// gives the answer.
async fn check_expected_checksum(
    gateway: &Gateway,
    (bucket, key, id): (&BucketName, &ObjectKey, &str),
    parts: &[CompletedPart],
    expected: Option<StoredChecksum>,
    expected_type: Option<String>,
) -> Result<(), S3Error> {
    let Ok(page) = gateway
        .backend
        .list_parts(bucket, key, id, 0, MAX_PART_NUMBER as usize)
        .await
    else {
        return Ok(());
    };
    let declared = page.checksum.as_ref();
    if let Some(t) = expected_type {
        let mode = declared.map_or("", |d| d.type_name());
        if !t.eq_ignore_ascii_case(mode) {
            return Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                format!(
                    "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
                    if mode.is_empty() { "null" } else { mode }
                ),
            ));
        }
    }
    let Some(want) = expected else {
        return Ok(());
    };
    let Ok(assembly) = assemble(parts, &page.parts) else {
        return Ok(());
    };
    let got = completed_checksum(declared, parts, &assembly.parts)?;
    let bare = |v: &str| v.split_once('-').map_or(v, |(b, _)| b).to_owned();
    let matches = got.as_ref().is_some_and(|g| {
        g.algorithm.eq_ignore_ascii_case(&want.algorithm) && bare(&g.value) == bare(&want.value)
    });
    if matches {
        Ok(())
    } else {
        Err(S3Error::new(
            S3ErrorCode::BadDigest,
            format!(
                "The {} you specified did not match the calculated checksum.",
                want.algorithm.to_ascii_lowercase()
            ),
        ))
    }
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html>
pub async fn handle_abort_multipart_upload(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let id = upload_id(req)?;
    gateway
        .backend
        .abort_multipart_upload(bucket, key, &id)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html>
pub async fn handle_list_parts(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let id = upload_id(req)?;
    let max_parts = page_size(req, "max-parts")?;
    let marker = match req.query.get("part-number-marker") {
        None => 0,
        Some(v) => v.trim().parse::<u32>().map_err(|_| {
            S3Error::invalid_argument("part-number-marker must be a non-negative integer")
        })?,
    };
    let page = gateway
        .backend
        .list_parts(bucket, key, &id, marker, max_parts)
        .await?;
    let mut x = XmlWriter::new();
    x.open_root("ListPartsResult");
    x.elem("Bucket", bucket.as_str());
    x.elem("Key", key.as_str());
    x.elem("UploadId", &id);
    write_initiator(&mut x, &req.verified.access_key);
    x.elem("StorageClass", "STANDARD");
    x.elem("PartNumberMarker", &marker.to_string());
    if let Some(next) = page.next_part_number_marker {
        x.elem("NextPartNumberMarker", &next.to_string());
    }
    x.elem("MaxParts", &max_parts.to_string());
    x.elem(
        "IsTruncated",
        bool_str(page.next_part_number_marker.is_some()),
    );
    for p in &page.parts {
        x.open("Part");
        x.elem("PartNumber", &p.part_number.to_string());
        x.elem("LastModified", &iso8601(millis(p.last_modified_ms)));
        x.elem("ETag", &format!("\"{}\"", p.etag));
        x.elem("Size", &p.size.to_string());
        if let Some(c) = &p.checksum {
            x.elem(&format!("Checksum{}", c.algorithm), &c.value);
        }
        x.close("Part");
    }
    if let Some(c) = &page.checksum {
        x.elem("ChecksumAlgorithm", &c.algorithm);
        x.elem("ChecksumType", c.type_name());
    }
    x.close("ListPartsResult");
    Ok(xml_response(x.finish()))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html>
pub async fn handle_list_multipart_uploads(
    gateway: &Gateway,
    bucket: &BucketName,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let q = &req.query;
    let url_encode = url_encoding(q)?;
    let enc = url_encoder(url_encode);
    let key_marker = q
        .get("key-marker")
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    let query = UploadsQuery {
        prefix: q.get("prefix").unwrap_or_default().to_owned(),
        delimiter: q
            .get("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        // The upload id marker counts only with a key marker.
        upload_id_marker: key_marker
            .as_ref()
            .and(q.get("upload-id-marker"))
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
        key_marker,
        max_uploads: page_size(req, "max-uploads")?,
    };
    let page = if query.max_uploads == 0 {
        gateway.backend.head_bucket(bucket).await?;
        Default::default()
    } else {
        gateway
            .backend
            .list_multipart_uploads(bucket, &query)
            .await?
    };
    let mut x = XmlWriter::new();
    x.open_root("ListMultipartUploadsResult");
    x.elem("Bucket", bucket.as_str());
    x.elem(
        "KeyMarker",
        &enc(query.key_marker.as_deref().unwrap_or_default()),
    );
    x.elem(
        "UploadIdMarker",
        query.upload_id_marker.as_deref().unwrap_or_default(),
    );
    if let Some((k, id)) = &page.next {
        x.elem("NextKeyMarker", &enc(k));
        x.elem("NextUploadIdMarker", id);
    }
    if let Some(d) = &query.delimiter {
        x.elem("Delimiter", &enc(d));
    }
    x.elem("Prefix", &enc(&query.prefix));
    x.elem("MaxUploads", &query.max_uploads.to_string());
    x.elem("IsTruncated", bool_str(page.next.is_some()));
    if url_encode {
        x.elem("EncodingType", "url");
    }
    for u in &page.uploads {
        x.open("Upload");
        x.elem("Key", &enc(&u.key));
        x.elem("UploadId", &u.upload_id);
        write_initiator(&mut x, &req.verified.access_key);
        x.elem("StorageClass", "STANDARD");
        x.elem("Initiated", &iso8601(millis(u.initiated_ms)));
        if let Some(c) = &u.checksum {
            x.elem("ChecksumAlgorithm", &c.algorithm);
            x.elem("ChecksumType", c.type_name());
        }
        x.close("Upload");
    }
    for cp in &page.common_prefixes {
        x.open("CommonPrefixes");
        x.elem("Prefix", &enc(cp));
        x.close("CommonPrefixes");
    }
    x.close("ListMultipartUploadsResult");
    Ok(xml_response(x.finish()))
}

/// Initiator and Owner: the gateway keeps no upload owners, so both show
/// the caller, as the owner of listings does.
fn write_initiator(x: &mut XmlWriter, access_key: &str) {
    x.open("Initiator");
    x.elem("ID", access_key);
    x.elem("DisplayName", access_key);
    x.close("Initiator");
    write_owner(x, access_key);
}

/// `x-amz-checksum-<algorithm>: value`.
fn set_checksum(headers: &mut http::HeaderMap, c: &StoredChecksum) {
    let name = http::HeaderName::from_bytes(
        format!("x-amz-checksum-{}", c.algorithm.to_ascii_lowercase()).as_bytes(),
    );
    if let (Ok(name), Ok(value)) = (name, http::HeaderValue::from_str(&c.value)) {
        headers.insert(name, value);
    }
}

fn millis(ms: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_document() {
        let doc = br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <Part><ETag>"aa"</ETag><PartNumber>1</PartNumber></Part>
            <Part><PartNumber>3</PartNumber><ETag>bb</ETag></Part></CompleteMultipartUpload>"#;
        let parts = completed_parts(doc).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].etag, "\"aa\"");
        assert_eq!(parts[1].part_number, 3);
        for bad in [
            &b"<CompleteMultipartUpload></CompleteMultipartUpload>"[..],
            b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>",
            b"<Other/>",
            b"<CompleteMultipartUpload>",
        ] {
            assert_eq!(
                completed_parts(bad).unwrap_err().code,
                S3ErrorCode::MalformedXML
            );
        }
    }
}
