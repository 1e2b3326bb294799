// The event stream of SelectObjectContent responses, read as it arrives.
//
// Framing (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTSelectObjectAppendix.html):
// total length (u32), headers length (u32), prelude CRC (u32), headers
// (name length u8, name, type u8 = 7 string, value length u16, value),
// payload, message CRC (u32); all big-endian. The CRCs are the transport's
// business (TLS or loopback); this reader checks the lengths.

const decoder = new TextDecoder();

function parseHeaders(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headers = {};
  let at = 0;
  while (at < bytes.length) {
    const nameLength = bytes[at];
    const name = decoder.decode(bytes.subarray(at + 1, at + 1 + nameLength));
    at += 1 + nameLength;
    const type = bytes[at];
    at += 1;
    if (type !== 7) throw new Error(`event stream header type ${type}`);
    const valueLength = view.getUint16(at);
    headers[name] = decoder.decode(bytes.subarray(at + 2, at + 2 + valueLength));
    at += 2 + valueLength;
  }
  return headers;
}

/**
 * Read a Select response body, calling onRecords(Uint8Array) for each
 * Records payload; resolves with the Stats details when End arrives.
 * A gateway error event rejects with {code, message}.
 */
export async function readSelect(body, onRecords) {
  const reader = body.getReader();
  try {
    return await readMessages(reader, onRecords);
  } finally {
    reader.cancel().catch(() => {});
  }
}

async function readMessages(reader, onRecords) {
  let buffered = new Uint8Array(0);
  let stats = null;
  for (;;) {
    while (buffered.length >= 12) {
      const view = new DataView(buffered.buffer, buffered.byteOffset, buffered.byteLength);
      const total = view.getUint32(0);
      const headersLength = view.getUint32(4);
      if (total < 16 + headersLength) throw new Error("malformed event stream");
      if (buffered.length < total) break;
      const headers = parseHeaders(buffered.subarray(12, 12 + headersLength));
      const payload = buffered.subarray(12 + headersLength, total - 4);
      if (headers[":message-type"] === "error") {
        const err = new Error(headers[":error-message"] || headers[":error-code"]);
        err.code = headers[":error-code"];
        throw err;
      }
      const event = headers[":event-type"];
      if (event === "Records") {
        if (onRecords(payload.slice()) === false) return stats;
      } else if (event === "Stats") {
        stats = decoder.decode(payload);
      } else if (event === "End") {
        return stats;
      }
      buffered = buffered.subarray(total);
    }
    const { value, done } = await reader.read();
    if (done) {
      if (buffered.length) throw new Error("event stream ended inside a message");
      return stats;
    }
    const joined = new Uint8Array(buffered.length + value.length);
    joined.set(buffered);
    joined.set(value, buffered.length);
    buffered = joined;
  }
}
