//! The event stream a SelectObjectContent answer travels in
//! (`vnd.amazon.eventstream`): Records, Cont, Progress, Stats, End and
//! error messages, framed by `aws-smithy-eventstream` (prelude CRC,
//! message CRC, headers).
//!
//! Every header is string-typed (type 7), as S3 sends them. Header order
//! follows MinIO's, whose Cont and End bytes match AWS's appendix
//! ("Appendix: SelectObjectContent Response"): `:message-type` first, then
//! `:content-type` where there is a payload, then `:event-type`.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use aws_smithy_types::str_bytes::StrBytes;
use bytes::Bytes;

use crate::SelectError;

/// The largest message this module sends, prelude and CRCs included.
///
/// The AWS SDK for Java (v1) decodes into a 128 KiB buffer and needs 256
/// bytes of it free (MinIO chose the same bound for this reason), so a
/// Records message never exceeds 128 KiB - 256 bytes.
pub const MAX_MESSAGE_LEN: usize = 128 * 1024 - 256;

/// Bytes a message adds to its payload: total length, headers length,
/// prelude CRC and message CRC.
const FRAME_OVERHEAD: usize = 16;

/// The encoded headers of a Records message: `:message-type` event (22
/// bytes), `:content-type` application/octet-stream (41), `:event-type`
/// Records (22).
const RECORDS_HEADERS_LEN: usize = 22 + 41 + 22;

/// The largest payload of a Records message: 130,715 bytes.
pub const MAX_RECORDS_PAYLOAD: usize = MAX_MESSAGE_LEN - FRAME_OVERHEAD - RECORDS_HEADERS_LEN;

/// Byte counts for the Progress and Stats events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes of the object read as stored (compressed, if it is).
    pub bytes_scanned: u64,
    /// Bytes after decompression.
    pub bytes_processed: u64,
    /// Bytes of Records payload sent so far.
    pub bytes_returned: u64,
}

fn header(name: &'static str, value: impl Into<StrBytes>) -> Header {
    Header::new(name, HeaderValue::String(value.into()))
}

fn encode(headers: Vec<Header>, payload: Bytes) -> Bytes {
    let message = Message::new_from_parts(headers, payload);
    let mut out = Vec::with_capacity(FRAME_OVERHEAD + 128 + message.payload().len());
    // Only lengths beyond u32 (payload) or i16 (a header value) can fail;
    // callers bound both.
    write_message_to(&message, &mut out).expect("event stream message within its length limits");
    Bytes::from(out)
}

fn event(event_type: &'static str, content_type: Option<&'static str>, payload: Bytes) -> Bytes {
    let mut headers = Vec::with_capacity(3);
    headers.push(header(":message-type", "event"));
    if let Some(content_type) = content_type {
        headers.push(header(":content-type", content_type));
    }
    headers.push(header(":event-type", event_type));
    encode(headers, payload)
}

/// One Records message carrying `payload` as it is. Keep payloads within
/// [`MAX_RECORDS_PAYLOAD`]; [`RecordsWriter`] does.
pub fn records_message(payload: Bytes) -> Bytes {
    event("Records", Some("application/octet-stream"), payload)
}

/// Records messages for `payload`, cut into pieces of at most
/// [`MAX_RECORDS_PAYLOAD`] bytes (a cut may fall inside a record, which S3
/// allows). An empty payload gives no message.
pub fn records(payload: &[u8]) -> Vec<Bytes> {
    payload
        .chunks(MAX_RECORDS_PAYLOAD)
        .map(|chunk| records_message(Bytes::copy_from_slice(chunk)))
        .collect()
}

/// The Cont (keep-alive) message: no payload.
pub fn cont() -> Bytes {
    event("Cont", None, Bytes::new())
}

fn stats_xml(root: &str, stats: &Stats) -> Bytes {
    Bytes::from(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><{root}><BytesScanned>{}</BytesScanned>\
         <BytesProcessed>{}</BytesProcessed><BytesReturned>{}</BytesReturned></{root}>",
        stats.bytes_scanned, stats.bytes_processed, stats.bytes_returned
    ))
}

/// A Progress message (sent only when the request enabled RequestProgress).
pub fn progress(stats: &Stats) -> Bytes {
    event("Progress", Some("text/xml"), stats_xml("Progress", stats))
}

/// The Stats message, sent once after the last Records message.
pub fn stats(stats: &Stats) -> Bytes {
    event("Stats", Some("text/xml"), stats_xml("Stats", stats))
}

/// The End message: the answer is complete.
pub fn end() -> Bytes {
    event("End", None, Bytes::new())
}

/// The longest header value: `i16::MAX` bytes, as the AWS SDKs (Java, Go,
/// the CRT) and `aws-smithy-eventstream` read them.
const MAX_HEADER_VALUE_LEN: usize = i16::MAX as usize;

/// Cuts `s` to at most `max` bytes, on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// An error message: `:message-type` error, `:error-code`,
/// `:error-message`, no payload. The stream ends after it (no End).
/// Header values are limited to 32,767 bytes: a longer message is cut.
pub fn error(code: &str, message: &str) -> Bytes {
    let headers = vec![
        header(":message-type", "error"),
        header(
            ":error-code",
            truncate(code, MAX_HEADER_VALUE_LEN).to_owned(),
        ),
        header(
            ":error-message",
            truncate(message, MAX_HEADER_VALUE_LEN).to_owned(),
        ),
    ];
    encode(headers, Bytes::new())
}

/// The error message for a [`SelectError`].
pub fn select_error(err: &SelectError) -> Bytes {
    error(err.code, &err.message)
}

/// Collects output bytes and cuts them into Records messages of at most
/// [`MAX_RECORDS_PAYLOAD`] bytes of payload each, counting BytesReturned.
///
/// Write output into [`buffer`](Self::buffer) (or pass it to
/// [`write`](Self::write)), send what [`take_messages`](Self::take_messages)
/// returns, and at the end, or whenever the output should reach the client
/// without waiting for a full message, send [`flush`](Self::flush)'s.
#[derive(Debug)]
pub struct RecordsWriter {
    buf: Vec<u8>,
    max_payload: usize,
    bytes_returned: u64,
}

impl Default for RecordsWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordsWriter {
    pub fn new() -> Self {
        Self::with_max_payload(MAX_RECORDS_PAYLOAD)
    }

    /// A writer whose messages carry at most `max_payload` bytes (at least 1,
    /// at most [`MAX_RECORDS_PAYLOAD`]).
    pub fn with_max_payload(max_payload: usize) -> Self {
        let max_payload = max_payload.clamp(1, MAX_RECORDS_PAYLOAD);
        RecordsWriter {
            buf: Vec::new(),
            max_payload,
            bytes_returned: 0,
        }
    }

    /// The pending output, to append to (e.g. with
    /// [`OutputWriter::write_batch`](crate::output::OutputWriter::write_batch)).
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Bytes written but not yet in a message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Payload bytes of all messages returned so far: Stats' BytesReturned.
    pub fn bytes_returned(&self) -> u64 {
        self.bytes_returned
    }

    /// Appends `data` and returns the messages that are full.
    pub fn write(&mut self, data: &[u8]) -> Vec<Bytes> {
        self.buf.extend_from_slice(data);
        self.take_messages()
    }

    /// A message for each full `max_payload` of pending output; the rest
    /// stays pending.
    pub fn take_messages(&mut self) -> Vec<Bytes> {
        let full = self.buf.len() / self.max_payload * self.max_payload;
        let messages = (0..full)
            .step_by(self.max_payload)
            .map(|start| {
                let chunk = Bytes::copy_from_slice(&self.buf[start..start + self.max_payload]);
                self.bytes_returned += chunk.len() as u64;
                records_message(chunk)
            })
            .collect();
        self.buf.drain(..full);
        messages
    }

    /// The full messages and one more for whatever is pending, if anything.
    pub fn flush(&mut self) -> Vec<Bytes> {
        let mut messages = self.take_messages();
        if !self.buf.is_empty() {
            let chunk = Bytes::copy_from_slice(&self.buf);
            self.buf.clear();
            self.bytes_returned += chunk.len() as u64;
            messages.push(records_message(chunk));
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    /// Decodes one message with the crate's reader, which checks both CRCs
    /// and the lengths; returns its string headers and payload.
    fn decode(bytes: &[u8]) -> (Vec<(String, String)>, Bytes) {
        let mut buf = bytes;
        let message = read_message_from(&mut buf).expect("valid message");
        assert!(buf.is_empty(), "one message, no trailing bytes");
        let headers = message
            .headers()
            .iter()
            .map(|h| match h.value() {
                HeaderValue::String(s) => (h.name().as_str().to_owned(), s.as_str().to_owned()),
                other => panic!("header {} is not a string: {other:?}", h.name().as_str()),
            })
            .collect();
        (headers, message.payload().clone())
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn end_matches_golden_bytes() {
        // The End message as MinIO hard-codes it from AWS's appendix
        // (internal/s3select/message.go): total length 56, headers 40.
        let mut golden = vec![0, 0, 0, 56, 0, 0, 0, 40, 193, 198, 132, 212];
        golden.extend_from_slice(b"\x0d:message-type\x07\x00\x05event");
        golden.extend_from_slice(b"\x0b:event-type\x07\x00\x03End");
        golden.extend_from_slice(&[207, 151, 211, 146]);
        assert_eq!(end().as_ref(), &golden[..]);
    }

    #[test]
    fn cont_matches_golden_bytes() {
        let mut golden = vec![0, 0, 0, 57, 0, 0, 0, 41, 139, 161, 157, 242];
        golden.extend_from_slice(b"\x0d:message-type\x07\x00\x05event");
        golden.extend_from_slice(b"\x0b:event-type\x07\x00\x04Cont");
        golden.extend_from_slice(&[156, 134, 74, 13]);
        assert_eq!(cont().as_ref(), &golden[..]);
    }

    #[test]
    fn records_decode() {
        let msgs = records(b"a,b\n1,2\n");
        assert_eq!(msgs.len(), 1);
        let (headers, payload) = decode(&msgs[0]);
        assert_eq!(
            headers,
            pairs(&[
                (":message-type", "event"),
                (":content-type", "application/octet-stream"),
                (":event-type", "Records"),
            ])
        );
        assert_eq!(payload.as_ref(), b"a,b\n1,2\n");
        assert!(records(b"").is_empty());
    }

    #[test]
    fn records_headers_len_is_as_computed() {
        let msg = records_message(Bytes::from_static(b"x"));
        let headers_len = u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]) as usize;
        assert_eq!(headers_len, RECORDS_HEADERS_LEN);
        assert_eq!(msg.len(), FRAME_OVERHEAD + RECORDS_HEADERS_LEN + 1);
    }

    #[test]
    fn progress_and_stats_decode() {
        let s = Stats {
            bytes_scanned: 512,
            bytes_processed: 1024,
            bytes_returned: 7,
        };
        let (headers, payload) = decode(&progress(&s));
        assert_eq!(
            headers,
            pairs(&[
                (":message-type", "event"),
                (":content-type", "text/xml"),
                (":event-type", "Progress"),
            ])
        );
        assert_eq!(
            payload.as_ref(),
            &b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Progress><BytesScanned>512</BytesScanned>\
<BytesProcessed>1024</BytesProcessed><BytesReturned>7</BytesReturned></Progress>"[..]
        );
        let (headers, payload) = decode(&stats(&s));
        assert_eq!(headers[2], pairs(&[(":event-type", "Stats")])[0]);
        assert_eq!(headers[1], pairs(&[(":content-type", "text/xml")])[0]);
        let text = std::str::from_utf8(&payload).expect("utf-8");
        assert!(
            text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Stats><BytesScanned>512")
        );
        assert!(text.ends_with("<BytesReturned>7</BytesReturned></Stats>"));
    }

    #[test]
    fn cont_and_end_decode() {
        let (headers, payload) = decode(&cont());
        assert_eq!(
            headers,
            pairs(&[(":message-type", "event"), (":event-type", "Cont")])
        );
        assert!(payload.is_empty());
        let (headers, payload) = decode(&end());
        assert_eq!(
            headers,
            pairs(&[(":message-type", "event"), (":event-type", "End")])
        );
        assert!(payload.is_empty());
    }

    #[test]
    fn error_decodes() {
        let err = SelectError::new("CSVParsingError", "bad record at line 3: \"x\"");
        let (headers, payload) = decode(&select_error(&err));
        assert_eq!(
            headers,
            pairs(&[
                (":message-type", "error"),
                (":error-code", "CSVParsingError"),
                (":error-message", "bad record at line 3: \"x\""),
            ])
        );
        assert!(payload.is_empty());
    }

    #[test]
    fn error_message_is_cut_to_a_header_value() {
        let long = "é".repeat(40_000); // 80,000 bytes
        let (headers, _) = decode(&error("InternalError", &long));
        let msg = &headers[2].1;
        assert!(msg.len() <= MAX_HEADER_VALUE_LEN && msg.len() >= MAX_HEADER_VALUE_LEN - 1);
        assert!(long.starts_with(msg.as_str()));
    }

    #[test]
    fn large_payload_splits_and_concatenates() {
        let input: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
        let mut writer = RecordsWriter::new();
        let mut messages = Vec::new();
        // Feed in uneven pieces, as batches would come.
        for piece in input.chunks(7_777) {
            messages.extend(writer.write(piece));
        }
        messages.extend(writer.flush());
        assert_eq!(messages.len(), 3);
        let mut joined = Vec::new();
        for m in &messages {
            assert!(m.len() <= MAX_MESSAGE_LEN);
            assert!(m.len() <= 128 * 1024);
            let (headers, payload) = decode(m);
            assert_eq!(headers[2].1, "Records");
            assert!(!payload.is_empty() && payload.len() <= MAX_RECORDS_PAYLOAD);
            joined.extend_from_slice(&payload);
        }
        assert_eq!(joined, input);
        assert_eq!(writer.bytes_returned(), input.len() as u64);
        assert_eq!(writer.pending(), 0);
        assert!(writer.flush().is_empty());

        let split = records(&input);
        assert_eq!(split.len(), 3);
        let joined: Vec<u8> = split.iter().flat_map(|m| decode(m).1.to_vec()).collect();
        assert_eq!(joined, input);
    }

    #[test]
    fn writer_keeps_partial_output_until_flushed() {
        let mut writer = RecordsWriter::with_max_payload(4);
        writer.buffer().extend_from_slice(b"abcdefghij");
        let full = writer.take_messages();
        assert_eq!(full.len(), 2);
        assert_eq!(writer.pending(), 2);
        assert_eq!(writer.bytes_returned(), 8);
        let rest = writer.flush();
        assert_eq!(rest.len(), 1);
        assert_eq!(decode(&rest[0]).1.as_ref(), b"ij");
        assert_eq!(writer.bytes_returned(), 10);
    }

    #[test]
    fn stream_decodes_with_frame_decoder() {
        use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
        let mut stream = bytes::BytesMut::new();
        for m in records(b"1\n2\n") {
            stream.extend_from_slice(&m);
        }
        stream.extend_from_slice(&cont());
        stream.extend_from_slice(&stats(&Stats::default()));
        stream.extend_from_slice(&end());
        let mut decoder = MessageFrameDecoder::new();
        let mut kinds = Vec::new();
        let mut buf = stream.freeze();
        while let DecodedFrame::Complete(m) = decoder.decode_frame(&mut buf).expect("frame") {
            let kind = m
                .headers()
                .iter()
                .find(|h| h.name().as_str() == ":event-type")
                .and_then(|h| h.value().as_string().ok())
                .map(|s| s.as_str().to_owned());
            kinds.push(kind.unwrap_or_default());
        }
        assert_eq!(kinds, ["Records", "Cont", "Stats", "End"]);
    }
}
