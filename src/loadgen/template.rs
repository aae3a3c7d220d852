//! Pre-encoded payloads that can be sent many times with fresh ids and current timestamps.
//!
//! A [`Template`] is an encoded export request plus the byte offsets of every trace id, span id
//! and timestamp in it. Generation marks those values with random markers and finds them in
//! the encoding afterwards; sending copies the bytes and patches the marked places: ids are
//! XORed with a per-send mask (which keeps parent/child and log/span links consistent) and
//! times are rewritten relative to now. Sending a template costs a memcpy, not an encode.

use aho_corasick::AhoCorasick;

use super::Encoding;

/// Random values placed where ids and times go, to be found in the encoded bytes.
#[derive(Default)]
pub struct Markers {
    trace_ids: Vec<[u8; 16]>,
    span_ids: Vec<[u8; 8]>,
    /// (marker, nanoseconds after the payload's base time)
    times: Vec<(u64, u64)>,
}

impl Markers {
    pub fn trace_id(&mut self, rng: &mut Rng) -> Vec<u8> {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        id[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        self.trace_ids.push(id);
        id.to_vec()
    }

    pub fn span_id(&mut self, rng: &mut Rng) -> Vec<u8> {
        let id = rng.next_u64().to_le_bytes();
        self.span_ids.push(id);
        id.to_vec()
    }

    /// A marker standing for `base + delta_ns`. Markers have 19 decimal digits, like current
    /// Unix times in nanoseconds, so JSON times can be patched in place.
    pub fn time(&mut self, rng: &mut Rng, delta_ns: u64) -> u64 {
        let marker = 2_000_000_000_000_000_000 + rng.below(7_000_000_000_000_000_000);
        self.times.push((marker, delta_ns));
        marker
    }
}

/// An encoded request and where to patch it.
#[derive(Clone, Debug)]
pub struct Template {
    pub bytes: Vec<u8>,
    pub items: u64,
    /// Prometheus samples the items make (metrics); equal to `items` for other signals.
    pub samples: u64,
    encoding: Encoding,
    trace_ids: Vec<usize>,
    span_ids: Vec<usize>,
    times: Vec<(usize, u64)>,
    /// Where the first trace id first appears, and how often it appears (its span count in a
    /// trace export).
    first_trace: Option<(usize, u64)>,
}

fn hex16(bytes: &[u8]) -> Vec<u8> {
    const_hex::encode(bytes).into_bytes()
}

/// What a marker found in the encoding stands for.
#[derive(Clone, Copy)]
enum Mark {
    /// A trace id; `true` for the payload's first trace.
    Trace(bool),
    Span,
    /// A time, nanoseconds after the payload's base time.
    Time(u64),
}

impl Template {
    /// Finds every marked place in `bytes`, an encoding of `items` items making `samples`
    /// Prometheus samples. All markers are found in one pass over the bytes (a search per
    /// marker made a 5 000-span payload take seconds).
    pub fn new(
        bytes: Vec<u8>,
        items: u64,
        samples: u64,
        encoding: Encoding,
        markers: &Markers,
    ) -> Result<Template, aho_corasick::BuildError> {
        let mut needles: Vec<Vec<u8>> = Vec::new();
        let mut marks = Vec::new();
        let id = |raw: &[u8]| match encoding {
            Encoding::Protobuf => raw.to_vec(),
            Encoding::Json => hex16(raw),
        };
        for (i, trace) in markers.trace_ids.iter().enumerate() {
            needles.push(id(trace));
            marks.push(Mark::Trace(i == 0));
        }
        for span in &markers.span_ids {
            needles.push(id(span));
            marks.push(Mark::Span);
        }
        for (marker, delta) in &markers.times {
            needles.push(match encoding {
                Encoding::Protobuf => marker.to_le_bytes().to_vec(),
                Encoding::Json => marker.to_string().into_bytes(),
            });
            marks.push(Mark::Time(*delta));
        }
        // Markers are random, 8 to 32 bytes long, and none is part of another: each match is
        // a marker's place.
        let (mut trace_ids, mut span_ids, mut times) = (Vec::new(), Vec::new(), Vec::new());
        let mut first_trace: Option<(usize, u64)> = None;
        for found in AhoCorasick::new(&needles)?.find_iter(&bytes) {
            let offset = found.start();
            match marks[found.pattern().as_usize()] {
                Mark::Trace(first) => {
                    trace_ids.push(offset);
                    if first {
                        first_trace.get_or_insert((offset, 0)).1 += 1;
                    }
                }
                Mark::Span => span_ids.push(offset),
                Mark::Time(delta) => times.push((offset, delta)),
            }
        }
        Ok(Template {
            bytes,
            items,
            samples,
            encoding,
            trace_ids,
            span_ids,
            times,
            first_trace,
        })
    }

    /// The first trace id of a rendering of this template (hex) and its number of occurrences.
    pub fn sample_trace(&self, rendered: &[u8]) -> Option<(String, u64)> {
        let (offset, count) = self.first_trace?;
        let id = match self.encoding {
            Encoding::Protobuf => const_hex::encode(rendered.get(offset..offset + 16)?),
            Encoding::Json => {
                String::from_utf8_lossy(rendered.get(offset..offset + 32)?).to_ascii_lowercase()
            }
        };
        Some((id, count))
    }

    /// Writes this template into `out` with ids masked by `mask` and times based at `base_ns`.
    pub fn render(&self, mask: u64, base_ns: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.bytes);
        let mut trace_mask = [0u8; 16];
        trace_mask[..8].copy_from_slice(&mask.to_le_bytes());
        trace_mask[8..].copy_from_slice(&splitmix(mask).to_le_bytes());
        let span_mask = splitmix(mask ^ 0x5bd1_e995).to_le_bytes();
        match self.encoding {
            Encoding::Protobuf => {
                for &o in &self.trace_ids {
                    xor(&mut out[o..o + 16], &trace_mask);
                }
                for &o in &self.span_ids {
                    xor(&mut out[o..o + 8], &span_mask);
                }
                for &(o, delta) in &self.times {
                    out[o..o + 8].copy_from_slice(&(base_ns + delta).to_le_bytes());
                }
            }
            Encoding::Json => {
                for &o in &self.trace_ids {
                    xor_hex(&mut out[o..o + 32], &trace_mask);
                }
                for &o in &self.span_ids {
                    xor_hex(&mut out[o..o + 16], &span_mask);
                }
                let mut digits = itoa::Buffer::new();
                for &(o, delta) in &self.times {
                    let text = digits.format(base_ns + delta);
                    if text.len() == 19 {
                        out[o..o + 19].copy_from_slice(text.as_bytes());
                    }
                }
            }
        }
    }
}

fn xor(target: &mut [u8], mask: &[u8]) {
    for (t, m) in target.iter_mut().zip(mask) {
        *t ^= m;
    }
}

fn xor_hex(target: &mut [u8], mask: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, c) in target.iter_mut().enumerate() {
        let value = match *c {
            b'0'..=b'9' => *c - b'0',
            b'a'..=b'f' => *c - b'a' + 10,
            b'A'..=b'F' => *c - b'A' + 10,
            _ => continue,
        };
        let nibble = if i % 2 == 0 {
            mask[i / 2] >> 4
        } else {
            mask[i / 2] & 0xf
        };
        *c = HEX[usize::from(value ^ nibble)];
    }
}

/// SplitMix64: tiny, fast, and the same sequence for the same seed on every platform and
/// version, which is what "same seed, same payloads" needs.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A deterministic random number generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix(self.0.wrapping_sub(0x9e37_79b9_7f4a_7c15))
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use lookout_proto::otlp::trace::v1::Span;
    use prost::Message;

    fn request(m: &mut Markers, rng: &mut Rng) -> ExportTraceServiceRequest {
        let trace_id = m.trace_id(rng);
        let parent = m.span_id(rng);
        let spans = vec![
            Span {
                trace_id: trace_id.clone(),
                span_id: parent.clone(),
                name: "root".into(),
                start_time_unix_nano: m.time(rng, 0),
                end_time_unix_nano: m.time(rng, 500),
                ..Default::default()
            },
            Span {
                trace_id,
                span_id: m.span_id(rng),
                parent_span_id: parent,
                name: "child".into(),
                start_time_unix_nano: m.time(rng, 100),
                end_time_unix_nano: m.time(rng, 200),
                ..Default::default()
            },
        ];
        lookout_proto::requests::traces(None, spans)
    }

    #[test]
    fn rendering_keeps_links_and_rebases_times_in_both_encodings() {
        let base = 1_700_000_000_000_000_000;
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            let (mut m, mut rng) = (Markers::default(), Rng::new(7));
            let original = request(&mut m, &mut rng);
            let bytes = match encoding {
                Encoding::Protobuf => original.encode_to_vec(),
                Encoding::Json => serde_json::to_vec(&original).unwrap(),
            };
            let template = Template::new(bytes, 2, 2, encoding, &m).unwrap();
            let mut out = Vec::new();
            let mut seen = Vec::new();
            for mask in [1u64, 2] {
                template.render(mask, base, &mut out);
                let r: ExportTraceServiceRequest = match encoding {
                    Encoding::Protobuf => ExportTraceServiceRequest::decode(&out[..]).unwrap(),
                    Encoding::Json => serde_json::from_slice(&out).unwrap(),
                };
                let spans = &r.resource_spans[0].scope_spans[0].spans;
                assert_eq!(spans[0].trace_id, spans[1].trace_id, "{encoding:?}");
                assert_eq!(spans[1].parent_span_id, spans[0].span_id, "{encoding:?}");
                assert_ne!(
                    spans[0].trace_id,
                    original.resource_spans[0].scope_spans[0].spans[0].trace_id
                );
                assert_eq!(spans[0].start_time_unix_nano, base);
                assert_eq!(spans[0].end_time_unix_nano, base + 500);
                assert_eq!(spans[1].start_time_unix_nano, base + 100);
                seen.push(spans[0].trace_id.clone());
            }
            assert_ne!(seen[0], seen[1], "each send gets fresh ids");
        }
    }

    #[test]
    fn same_seed_same_numbers() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert!((0..1000).all(|_| a.below(10) < 10));
    }
}
