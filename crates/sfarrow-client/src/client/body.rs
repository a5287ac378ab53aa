//! Response bodies: read chunk by chunk into recycled buffers, and gzip inflated (on the
//! blocking pool when large) into room that is not zeroed first.

use super::recycle::{make_room, Recycler};
use crate::error::{Error, Result};
use bytes::Bytes;
use std::sync::Arc;

/// Bodies arrive gzip-compressed when the server chose to (we always ask).
fn is_gzip(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"))
}

/// The whole body; into a recycled buffer when there is one, chunk by chunk, so that each chunk
/// is freed as soon as it is copied instead of all of them held until the end and copied then.
pub(super) async fn read_body(
    mut resp: reqwest::Response,
    recycle: Option<&Arc<Recycler<Vec<u8>>>>,
) -> reqwest::Result<Bytes> {
    let Some(pool) = recycle else {
        return resp.bytes().await;
    };
    let mut buf = pool.take();
    // Content-Length is the sender's word: room for it, within reason; a longer body still grows.
    let announced = resp.content_length().unwrap_or(0).min(256 << 20);
    make_room(&mut buf, usize::try_from(announced).unwrap_or(0));
    while let Some(chunk) = resp.chunk().await? {
        buf.extend_from_slice(&chunk);
    }
    Ok(pool.freeze(buf))
}

/// Large gzip bodies are inflated on the blocking pool: inflating on the async workers would
/// stall every other download that shares them (several Bulk pages are in flight at once).
pub(super) async fn inflate(
    headers: &reqwest::header::HeaderMap,
    body: Bytes,
    recycle: Option<Arc<Recycler<Vec<u8>>>>,
) -> Result<Bytes> {
    if !is_gzip(headers) || body.len() < 256 * 1024 {
        return decode_body(headers, body, recycle.as_ref());
    }
    let headers = headers.clone();
    tokio::task::spawn_blocking(move || decode_body(&headers, body, recycle.as_ref()))
        .await
        .map_err(|e| Error::protocol(format!("inflating a response failed: {e}")))?
}

fn decode_body(
    headers: &reqwest::header::HeaderMap,
    body: Bytes,
    recycle: Option<&Arc<Recycler<Vec<u8>>>>,
) -> Result<Bytes> {
    if !is_gzip(headers) {
        return Ok(body);
    }
    let corrupt = |why: &dyn std::fmt::Display| {
        Error::transport(format!(
            "the response body was cut short or corrupt (gzip): {why}"
        ))
    };
    // The gzip trailer holds the inflated size (mod 2^32): one allocation instead of doubling.
    // It is only a hint, so a lying or corrupt trailer is bounded by deflate's best ratio.
    let trailer = body
        .len()
        .checked_sub(4)
        .and_then(|i| body.get(i..))
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map_or(0, |t| u32::from_le_bytes(t) as usize);
    let size = trailer.min(body.len().saturating_mul(1032));
    let freeze = |out: Vec<u8>| match recycle {
        Some(pool) => pool.freeze(out),
        None => Bytes::from(out),
    };
    let mut out = match recycle {
        Some(pool) => pool.take(),
        None => Vec::new(),
    };
    if inflate_whole(&body, size, &mut out) {
        return Ok(freeze(out));
    }
    // A trailer that does not give the size (bodies over 4 GiB), or a corrupt body: stream it,
    // growing the buffer as needed, and say what went wrong.
    make_room(&mut out, size);
    // Inflating into the vector's spare room: `Read::read_to_end` would zero it all first.
    let mut inflate = flate2::Decompress::new_gzip(15);
    loop {
        let (read, wrote) = (inflate.total_in(), inflate.total_out());
        let input = body.get(read as usize..).unwrap_or_default();
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let status = inflate
            .decompress_vec(input, &mut out, flate2::FlushDecompress::Finish)
            .map_err(|e| corrupt(&e))?;
        if status == flate2::Status::StreamEnd {
            return Ok(freeze(out));
        }
        if (read, wrote) == (inflate.total_in(), inflate.total_out()) {
            return Err(corrupt(&"it ends before the compressed stream does"));
        }
    }
}

/// Inflates `body` into `out` in one call when the trailer's size is right: libdeflate inflates
/// a result page about a third faster than zlib-rs, given the whole input and an exact output.
/// `out` may hold a recycled page: it is overwritten, and zeroed only where it has to grow.
fn inflate_whole(body: &[u8], size: usize, out: &mut Vec<u8>) -> bool {
    if out.capacity() < size {
        make_room(out, size);
    }
    out.resize(size, 0);
    libdeflater::Decompressor::new()
        .gzip_decompress(body, out)
        .is_ok_and(|wrote| wrote == size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_bodies_inflate_whole_or_fail_as_transport_errors() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("content-encoding", "gzip".parse().unwrap());
        let data: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let zipped = gzip(&data);
        let body = decode_body(&headers, Bytes::from(zipped.clone()), None).unwrap();
        assert_eq!(&body[..], &data[..]);

        // The trailer sizes the buffer, and is checked once the stream is inflated.
        let mut lying_size = zipped.clone();
        let n = lying_size.len();
        lying_size[n - 4..].copy_from_slice(&16u32.to_le_bytes());

        let cut = Bytes::from(zipped[..zipped.len() / 2].to_vec());
        let mut bad_crc = zipped.clone();
        bad_crc[n - 8] ^= 1;
        for body in [
            cut,
            Bytes::from(bad_crc),
            Bytes::from(lying_size),
            Bytes::from_static(b"not gzip"),
        ] {
            let e = decode_body(&headers, body, None).unwrap_err();
            assert!(matches!(e, Error::Transport { .. }), "{e}");
        }
        let empty = gzip(b"");
        assert!(decode_body(&headers, empty.into(), None)
            .unwrap()
            .is_empty());
        // Two members: the fast path stops after the first, and the stream path reads it alone.
        let mut two = zipped.clone();
        two.extend(gzip(b"tail"));
        assert_eq!(
            &decode_body(&headers, two.into(), None).unwrap()[..],
            &data[..]
        );

        // A recycled buffer's old page never shows through, whether it is longer or shorter.
        let pool = Recycler::new(1);
        for stale in [vec![0xAA; data.len() * 2], vec![0xBB; 10]] {
            drop(pool.freeze(stale));
            let body = decode_body(&headers, Bytes::from(zipped.clone()), Some(&pool)).unwrap();
            assert_eq!(&body[..], &data[..]);
        }
        drop(pool.freeze(vec![0xCC; 64]));
        let e = decode_body(&headers, Bytes::from(zipped[..n / 2].to_vec()), Some(&pool));
        assert!(e.is_err());
    }
}
