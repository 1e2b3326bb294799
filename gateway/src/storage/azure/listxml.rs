//! Parsing one List Blobs page. The SDK no longer offers delimiter listings,
//! so the gateway reads the service's XML itself: blobs with their
//! properties and metadata, BlobPrefix entries and NextMarker.

use quick_xml::events::Event;
use quick_xml::Reader;

use super::props::{from_azure, http_date_ms, s3_etag};
use crate::storage::{ContentHeaders, ObjectMeta};

/// One entry of a page, in service order. Nearly all entries are blobs, so
/// boxing them to shrink the rare prefix entry would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Blob {
        name: String,
        meta: ObjectMeta,
        is_folder: bool,
    },
    Prefix(String),
}

/// One page of List Blobs.
#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Empty or absent when the listing is complete.
    pub next_marker: Option<String>,
}

#[derive(Default)]
struct BlobFields {
    name: String,
    size: u64,
    etag: String,
    md5: Option<String>,
    last_modified: Option<String>,
    headers: ContentHeaders,
    metadata: Vec<(String, String)>,
}

/// Parse a List Blobs response body.
pub fn parse(xml: &[u8]) -> Result<Page, String> {
    let mut reader = Reader::from_reader(xml);
    let mut path: Vec<String> = Vec::new();
    let mut page = Page::default();
    let mut blob = BlobFields::default();
    let mut prefix = String::new();
    let mut encoded = false;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Err(e) => return Err(format!("List Blobs XML: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "Name" {
                    encoded = e
                        .attributes()
                        .flatten()
                        .any(|a| a.key.as_ref() == b"Encoded" && a.value.as_ref() == b"true");
                }
                if name == "Blob" {
                    blob = BlobFields::default();
                } else if name == "BlobPrefix" {
                    prefix.clear();
                }
                path.push(name);
            }
            Ok(Event::Empty(e)) => {
                // <Metadata><name /></Metadata>: an empty value.
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if path.last().map(String::as_str) == Some("Metadata") {
                    blob.metadata.push((name, String::new()));
                }
            }
            Ok(Event::End(_)) => match path.pop().as_deref() {
                Some("Blob") => {
                    let b = std::mem::take(&mut blob);
                    let decoded =
                        from_azure(b.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                    let mut headers = b.headers;
                    headers.expires = decoded.expires;
                    page.items.push(Item::Blob {
                        meta: ObjectMeta {
                            size: b.size,
                            etag: s3_etag(decoded.etag, b.md5.as_deref(), &b.etag),
                            last_modified_ms: http_date_ms(b.last_modified.as_deref()),
                            headers,
                            user_metadata: decoded.user,
                            checksum: decoded.checksum,
                            tag_count: 0,
                            parts: decoded.parts,
                        },
                        name: b.name,
                        is_folder: decoded.is_folder,
                    });
                }
                Some("BlobPrefix") => page.items.push(Item::Prefix(std::mem::take(&mut prefix))),
                _ => {}
            },
            Ok(Event::Text(t)) => {
                let text = t
                    .unescape()
                    .map_err(|e| format!("List Blobs XML: {e}"))?
                    .into_owned();
                set_field(&path, text, encoded, &mut blob, &mut prefix, &mut page)?;
            }
            Ok(Event::CData(t)) => {
                let text = String::from_utf8_lossy(&t).into_owned();
                set_field(&path, text, encoded, &mut blob, &mut prefix, &mut page)?;
            }
            Ok(_) => {}
        }
        buf.clear();
    }
    Ok(page)
}

fn set_field(
    path: &[String],
    text: String,
    encoded: bool,
    blob: &mut BlobFields,
    prefix: &mut String,
    page: &mut Page,
) -> Result<(), String> {
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    let name_text = |text: String| -> Result<String, String> {
        if encoded {
            percent_encoding::percent_decode_str(&text)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|e| format!("List Blobs XML: encoded name: {e}"))
        } else {
            Ok(text)
        }
    };
    match names.as_slice() {
        [.., "Blob", "Name"] => blob.name.push_str(&name_text(text)?),
        [.., "BlobPrefix", "Name"] => prefix.push_str(&name_text(text)?),
        [.., "Blob", "Properties", field] => match *field {
            "Content-Length" => blob.size = text.trim().parse().unwrap_or(0),
            "Etag" => blob.etag = text,
            "Content-MD5" => blob.md5 = Some(text),
            "Last-Modified" => blob.last_modified = Some(text),
            "Content-Type" => blob.headers.content_type = Some(text),
            "Content-Encoding" => blob.headers.content_encoding = Some(text),
            "Content-Language" => blob.headers.content_language = Some(text),
            "Content-Disposition" => blob.headers.content_disposition = Some(text),
            "Cache-Control" => blob.headers.cache_control = Some(text),
            _ => {}
        },
        [.., "Blob", "Metadata", key] => blob.metadata.push(((*key).to_owned(), text)),
        [.., "NextMarker"] => page.next_marker = Some(text).filter(|m| !m.is_empty()),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blobs_prefixes_and_marker() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1/devstoreaccount1" ContainerName="c">
<Prefix/><MaxResults>3</MaxResults><Delimiter>/</Delimiter>
<Blobs>
<Blob><Name>a &amp; b.txt</Name><Properties><Last-Modified>Fri, 27 Nov 2026 10:00:00 GMT</Last-Modified>
<Etag>0x8DC1</Etag><Content-Length>11</Content-Length><Content-Type>text/plain</Content-Type>
<Content-Encoding /><Content-MD5>XrY7u+Ae7tCTyyK7j1rNww==</Content-MD5><BlobType>BlockBlob</BlobType></Properties>
<Metadata><bgm_color>blue</bgm_color><empty /></Metadata></Blob>
<BlobPrefix><Name>dir/</Name></BlobPrefix>
<Blob><Name Encoded="true">x%01y</Name><Properties><Etag>0x8DC2</Etag><Content-Length>0</Content-Length></Properties>
<Metadata><hdi_isfolder>true</hdi_isfolder></Metadata></Blob>
</Blobs><NextMarker>2!opaque</NextMarker></EnumerationResults>"#;
        let page = parse(xml).unwrap();
        assert_eq!(page.next_marker.as_deref(), Some("2!opaque"));
        assert_eq!(page.items.len(), 3);
        match &page.items[0] {
            Item::Blob {
                name,
                meta,
                is_folder,
            } => {
                assert_eq!(name, "a & b.txt");
                assert_eq!(meta.size, 11);
                assert_eq!(meta.etag, "5eb63bbbe01eeed093cb22bb8f5acdc3");
                assert_eq!(meta.headers.content_type.as_deref(), Some("text/plain"));
                assert_eq!(meta.headers.content_encoding, None);
                assert_eq!(meta.last_modified_ms, 1_795_773_600_000);
                assert_eq!(
                    meta.user_metadata,
                    vec![
                        ("color".to_owned(), "blue".to_owned()),
                        ("empty".to_owned(), String::new())
                    ]
                );
                assert!(!is_folder);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(page.items[1], Item::Prefix("dir/".into()));
        match &page.items[2] {
            Item::Blob {
                name,
                meta,
                is_folder,
            } => {
                assert_eq!(name, "x\u{1}y");
                assert_eq!(meta.etag, "0x8DC2-1");
                assert!(is_folder);
            }
            other => panic!("{other:?}"),
        }
        let last =
            parse(b"<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>").unwrap();
        assert!(last.items.is_empty() && last.next_marker.is_none());
        assert!(parse(b"<a></b>").is_err());
    }
}
