//! Tests of the aws-chunked decoder on its own (unsigned framing; the signed
//! modes are exercised end to end in the body tests).

use super::*;

/// Decoded data, trailers and the final result.
type Decoded = (Vec<u8>, Vec<(String, String)>, Result<(), AuthError>);

/// Decode `input` fed in frames of `frame` bytes.
fn decode_all(input: &[u8], frame: usize) -> Decoded {
    let mut decoder = ChunkedDecoder::unsigned();
    let mut out = Vec::new();
    for piece in input.chunks(frame.max(1)) {
        let mut buf = Bytes::copy_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(data)) => out.extend_from_slice(&data),
                Ok(None) => break,
                Err(e) => return (out, decoder.trailers().to_vec(), Err(e)),
            }
        }
        assert!(buf.is_empty());
    }
    let result = decoder.finish();
    (out, decoder.trailers().to_vec(), result)
}

#[test]
fn decodes_across_every_frame_size() {
    let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n";
    for frame in 1..=body.len() {
        let (data, trailers, result) = decode_all(body, frame);
        result.unwrap();
        assert_eq!(data, b"hello, world", "frame {frame}");
        assert_eq!(
            trailers,
            [("x-amz-checksum-crc32".to_owned(), "NSRBwg==".to_owned())]
        );
    }
}

#[test]
fn tolerates_line_ending_variants() {
    let variants: [&[u8]; 6] = [
        b"3\r\nabc\r\n0\r\n\r\n",
        b"3\r\nabc\r\n0\r\n",
        b"3\r\nabc\r\n0\r\n\r\n\r\n",
        b"3\nabc\n0\n\n",
        b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n",
        b"3\r\nabc\r\n0\r\nX-Amz-Checksum-CRC32 : NSRBwg==",
    ];
    for body in variants {
        for frame in [1, 2, 64] {
            let (data, _, result) = decode_all(body, frame);
            result.unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(body)));
            assert_eq!(data, b"abc");
        }
    }
    let (_, trailers, _) = decode_all(variants[5], 3);
    assert_eq!(trailers[0].0, "x-amz-checksum-crc32");
}

#[test]
fn malformed_bodies_are_rejected() {
    let long_line = format!("{}\r\n", "1".repeat(MAX_LINE + 1));
    let cases: [&[u8]; 8] = [
        b"zz\r\nabc\r\n0\r\n\r\n",
        b"+3\r\nabc\r\n0\r\n\r\n",
        b"\r\nabc\r\n0\r\n\r\n",
        b"11111111111111111\r\n",
        b"3\r\nabcX\r\n0\r\n\r\n",
        b"3\r\nabc\r\n0\r\n\r\ntrailing garbage",
        b"3\r\nabc\r\n0\r\nno-colon\r\n\r\n",
        long_line.as_bytes(),
    ];
    for body in cases {
        for frame in [1, 5, 4096] {
            let (_, _, result) = decode_all(body, frame);
            assert!(
                matches!(result, Err(AuthError::MalformedChunk(_))),
                "{:?} in frames of {frame}: {result:?}",
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
        }
    }
}

#[test]
fn truncated_bodies_are_incomplete() {
    for body in [
        &b""[..],
        b"5\r\nhel",
        b"5\r\nhello\r\n",
        b"5\r\nhello",
        b"5\r\nhello\r\n0",
    ] {
        let (_, _, result) = decode_all(body, 2);
        assert_eq!(
            result,
            Err(AuthError::IncompleteBody),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn too_many_trailers() {
    let mut body = b"0\r\n".to_vec();
    for i in 0..=MAX_TRAILERS {
        body.extend_from_slice(format!("x-h{i}:v\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    let (_, _, result) = decode_all(&body, 64);
    assert!(matches!(result, Err(AuthError::MalformedChunk(_))));
}

#[test]
fn chunk_data_is_not_copied() {
    let frame = Bytes::from_static(b"4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n");
    let range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
    let mut input = frame.clone();
    let mut decoder = ChunkedDecoder::unsigned();
    let first = decoder.decode(&mut input).unwrap().unwrap();
    let second = decoder.decode(&mut input).unwrap().unwrap();
    assert_eq!((&first[..], &second[..]), (&b"abcd"[..], &b"ef"[..]));
    assert!(range.contains(&(first.as_ptr() as usize)));
    assert!(range.contains(&(second.as_ptr() as usize)));
    assert_eq!(decoder.decode(&mut input).unwrap(), None);
    decoder.finish().unwrap();
}
