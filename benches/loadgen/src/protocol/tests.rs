use std::time::{Duration, SystemTime};

use blobgate_auth::{verify_request, RequestParts, StaticCredentials};

use super::*;

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn s3() -> Target {
    Target {
        api: Api::S3(S3Signer::new(AK, SK, "us-east-1")),
        authority: "127.0.0.1:9000".into(),
        base: String::new(),
        bucket: "bench".into(),
    }
}

fn azure() -> Target {
    Target {
        api: Api::Azure {
            sas: "sv=2020-10-02&sig=abc".into(),
        },
        authority: "127.0.0.1:10000".into(),
        base: "/devstoreaccount1".into(),
        bucket: "bench".into(),
    }
}

fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// The signed request passes blobgate's own SigV4 verifier.
fn verifies(req: &Request<Body>) {
    let store = StaticCredentials::new([(AK.to_owned(), SK.to_owned())]);
    let parts = RequestParts {
        method: req.method(),
        uri: req.uri(),
        headers: req.headers(),
        virtual_bucket: None,
    };
    verify_request(&parts, &store, "us-east-1", at()).unwrap();
}

#[test]
fn s3_put_is_signed_unsigned_payload() {
    let body = Bytes::from_static(b"hello");
    let req = s3().request(&Op::Put { key: "big/0", body }, at()).unwrap();
    assert_eq!(req.method(), Method::PUT);
    assert_eq!(req.uri(), "/bench/big/0");
    assert_eq!(req.headers()["host"], "127.0.0.1:9000");
    assert_eq!(req.headers()["content-length"], "5");
    assert_eq!(req.headers()["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    assert_eq!(req.headers()["x-amz-date"], "20231114T221320Z");
    let auth = req.headers()["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20231114/us-east-1/s3/aws4_request, SignedHeaders="
        ),
        "{auth}"
    );
    verifies(&req);
}

#[test]
fn s3_queries_verify() {
    let target = s3();
    let parts = [(1, "\"abc\"".to_owned()), (2, "\"def\"".to_owned())];
    let ops = [
        Op::List {
            prefix: "list/",
            max_keys: 1000,
            token: Some("a+b/c=="),
        },
        Op::CreateUpload { key: "mpu/0" },
        Op::UploadPart {
            key: "mpu/0",
            upload_id: "id/with+chars",
            part: 3,
            body: Bytes::from_static(b"x"),
        },
        Op::CompleteUpload {
            key: "mpu/0",
            upload_id: "id",
            parts: &parts,
        },
        Op::AbortUpload {
            key: "mpu/0",
            upload_id: "id",
        },
        Op::Head { key: "a b/ü" },
        Op::CreateBucket,
    ];
    for op in &ops {
        let req = target.request(op, at()).unwrap();
        verifies(&req);
    }
    let list = target.request(&ops[0], at()).unwrap();
    assert_eq!(
        list.uri(),
        "/bench?continuation-token=a%2Bb%2Fc%3D%3D&list-type=2&max-keys=1000&prefix=list%2F"
    );
    let part = target.request(&ops[2], at()).unwrap();
    assert_eq!(
        part.uri(),
        "/bench/mpu/0?partNumber=3&uploadId=id%2Fwith%2Bchars"
    );
    assert_eq!(
        target.request(&ops[5], at()).unwrap().uri(),
        "/bench/a%20b/%C3%BC"
    );
}

#[test]
fn complete_upload_body() {
    let parts = [(1, "\"a\"".to_owned()), (2, "\"b\"".to_owned())];
    assert_eq!(
        complete_upload_xml(&parts),
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part></CompleteMultipartUpload>"
    );
}

#[test]
fn azure_requests_carry_the_sas() {
    let target = azure();
    let put = target
        .request(
            &Op::Put {
                key: "small/1",
                body: Bytes::from_static(b"abcd"),
            },
            at(),
        )
        .unwrap();
    assert_eq!(
        put.uri(),
        "/devstoreaccount1/bench/small/1?sv=2020-10-02&sig=abc"
    );
    assert_eq!(put.headers()["x-ms-blob-type"], "BlockBlob");
    assert_eq!(put.headers()["x-ms-version"], AZURE_VERSION);
    assert!(put.headers().get("authorization").is_none());
    let block = target
        .request(
            &Op::UploadPart {
                key: "mpu/0",
                upload_id: "",
                part: 2,
                body: Bytes::new(),
            },
            at(),
        )
        .unwrap();
    assert_eq!(
        block.uri(),
        "/devstoreaccount1/bench/mpu/0?blockid=MDAwMDAy&comp=block&sv=2020-10-02&sig=abc"
    );
    let list = target
        .request(
            &Op::List {
                prefix: "list/",
                max_keys: 1000,
                token: Some("2!tok"),
            },
            at(),
        )
        .unwrap();
    assert_eq!(
        list.uri(),
        "/devstoreaccount1/bench?comp=list&marker=2%21tok&maxresults=1000&prefix=list%2F&restype=container&sv=2020-10-02&sig=abc"
    );
    let create = target.request(&Op::CreateBucket, at()).unwrap();
    assert_eq!(
        create.uri(),
        "/devstoreaccount1/bench?restype=container&sv=2020-10-02&sig=abc"
    );
}

#[test]
fn block_ids_have_one_length() {
    assert_eq!(azure_block_id(1).len(), azure_block_id(9999).len());
}

#[test]
fn list_pages() {
    let s3_page = "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a</Key></Contents>\
                   <Contents><Key>b</Key></Contents><NextContinuationToken>t&amp;1</NextContinuationToken></ListBucketResult>";
    assert_eq!(
        s3().parse_list(s3_page),
        ListPage {
            keys: 2,
            next: Some("t&1".into())
        }
    );
    let last = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key></Contents></ListBucketResult>";
    assert_eq!(
        s3().parse_list(last),
        ListPage {
            keys: 1,
            next: None
        }
    );
    let az = "<EnumerationResults><Blobs><Blob><Name>a</Name></Blob></Blobs><NextMarker>m</NextMarker></EnumerationResults>";
    assert_eq!(
        azure().parse_list(az),
        ListPage {
            keys: 1,
            next: Some("m".into())
        }
    );
    let az_last = "<EnumerationResults><Blobs><Blob><Name>a</Name></Blob></Blobs><NextMarker /></EnumerationResults>";
    assert_eq!(azure().parse_list(az_last).next, None);
}

#[test]
fn error_codes() {
    let xml =
        "<?xml version=\"1.0\"?><Error><Code>NotImplemented</Code><Message>x</Message></Error>";
    assert_eq!(xml_field(xml, "Code").as_deref(), Some("NotImplemented"));
    assert_eq!(xml_field("<a/>", "Code"), None);
}
