//! Gorilla-compressed sample chunks (Facebook's Gorilla paper, as Prometheus's XOR chunks):
//! timestamps as delta-of-delta, values XORed with the previous value. A regular 15 s scrape of
//! a slowly changing value costs about 1.3 bytes per sample.
//!
//! Layout of an encoded chunk: count (u16 BE), first timestamp (i64 BE, milliseconds), first
//! value (f64 bits BE), then the bit stream. Values are stored bit-exactly, so NaN payloads
//! (the stale marker) survive.

/// Bits appended to a byte vector, most significant bit first.
#[derive(Clone, Debug, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = byte boundary).
    used: u8,
}

impl BitWriter {
    fn push_bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if bit {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    /// The low `n` bits of `value`, most significant first (n ≤ 64).
    fn push_bits(&mut self, value: u64, n: u8) {
        let mut n = n;
        while n > 0 {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(n);
            let shift = n - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (free - take);
            self.used = (self.used + take) % 8;
            n -= take;
        }
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(bit)
    }

    fn bits(&mut self, n: u8) -> Option<u64> {
        let mut value = 0u64;
        let mut n = n;
        while n > 0 {
            let byte = *self.bytes.get(self.pos / 8)?;
            let offset = (self.pos % 8) as u8;
            let avail = 8 - offset;
            let take = avail.min(n);
            let chunk = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            value = (value << take) | u64::from(chunk);
            self.pos += take as usize;
            n -= take;
        }
        Some(value)
    }
}

/// Appends samples to one chunk. Timestamps must increase.
#[derive(Clone, Debug, Default)]
pub struct ChunkEncoder {
    count: u16,
    first_t: i64,
    first_v: u64,
    t: i64,
    delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
    stream: BitWriter,
}

impl ChunkEncoder {
    pub fn new() -> Self {
        ChunkEncoder {
            leading: 0xff,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn first_time(&self) -> Option<i64> {
        (self.count > 0).then_some(self.first_t)
    }

    pub fn last_time(&self) -> Option<i64> {
        (self.count > 0).then_some(self.t)
    }

    pub fn last_value(&self) -> Option<f64> {
        (self.count > 0).then(|| f64::from_bits(self.v))
    }

    /// Appends a sample; the caller guarantees `t` is after the last sample's time.
    pub fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        match self.count {
            0 => {
                self.first_t = t;
                self.first_v = bits;
            }
            1 => {
                self.delta = t.wrapping_sub(self.t);
                self.write_dod(self.delta);
                self.write_value(bits);
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                self.write_dod(delta.wrapping_sub(self.delta));
                self.delta = delta;
                self.write_value(bits);
            }
        }
        self.t = t;
        self.v = bits;
        self.count = self.count.saturating_add(1);
    }

    fn write_dod(&mut self, dod: i64) {
        let s = &mut self.stream;
        match dod {
            0 => s.push_bit(false),
            // Asymmetric ranges, decoded by `dod_from_bits`.
            -63..=64 => {
                s.push_bits(0b10, 2);
                s.push_bits(dod as u64, 7);
            }
            -255..=256 => {
                s.push_bits(0b110, 3);
                s.push_bits(dod as u64, 9);
            }
            -2047..=2048 => {
                s.push_bits(0b1110, 4);
                s.push_bits(dod as u64, 12);
            }
            _ => {
                s.push_bits(0b1111, 4);
                s.push_bits(dod as u64, 64);
            }
        }
    }

    fn write_value(&mut self, bits: u64) {
        let xor = bits ^ self.v;
        let s = &mut self.stream;
        if xor == 0 {
            s.push_bit(false);
            return;
        }
        s.push_bit(true);
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            s.push_bit(false);
            let significant = 64 - self.leading - self.trailing;
            s.push_bits(xor >> self.trailing, significant);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            s.push_bit(true);
            s.push_bits(u64::from(leading), 5);
            let significant = 64 - leading - trailing;
            // 64 significant bits are written as 0 (6 bits cannot hold 64).
            s.push_bits(u64::from(significant) & 63, 6);
            s.push_bits(xor >> trailing, significant);
        }
    }

    /// The encoded chunk.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(18 + self.stream.bytes.len());
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.first_t.to_be_bytes());
        out.extend_from_slice(&self.first_v.to_be_bytes());
        out.extend_from_slice(&self.stream.bytes);
        out
    }

    /// Heap bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.stream.bytes.capacity()
    }

    /// Rebuilds an encoder from an encoded chunk, ready for more samples.
    pub fn from_encoded(bytes: &[u8]) -> Option<ChunkEncoder> {
        let mut encoder = ChunkEncoder::new();
        for (t, v) in decode(bytes)? {
            encoder.append(t, v);
        }
        Some(encoder)
    }
}

/// Decodes a chunk into its samples; `None` when the bytes are not a valid chunk.
pub fn decode(bytes: &[u8]) -> Option<Vec<(i64, f64)>> {
    let count = u16::from_be_bytes(bytes.get(..2)?.try_into().ok()?) as usize;
    let mut out = Vec::with_capacity(count);
    if count == 0 {
        return Some(out);
    }
    let mut t = i64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?);
    let mut v = u64::from_be_bytes(bytes.get(10..18)?.try_into().ok()?);
    out.push((t, f64::from_bits(v)));
    let mut r = BitReader {
        bytes: bytes.get(18..)?,
        pos: 0,
    };
    let (mut delta, mut leading, mut trailing) = (0i64, 0u8, 0u8);
    for i in 1..count {
        let dod = if !r.bit()? {
            0
        } else if !r.bit()? {
            dod_from_bits(r.bits(7)?, 7)
        } else if !r.bit()? {
            dod_from_bits(r.bits(9)?, 9)
        } else if !r.bit()? {
            dod_from_bits(r.bits(12)?, 12)
        } else {
            r.bits(64)? as i64
        };
        // Wrapping, as the encoder: any i64 times round-trip, and garbage cannot overflow.
        delta = if i == 1 { dod } else { delta.wrapping_add(dod) };
        t = t.wrapping_add(delta);
        if r.bit()? {
            if r.bit()? {
                leading = r.bits(5)? as u8;
                let mut significant = r.bits(6)? as u8;
                if significant == 0 {
                    significant = 64;
                }
                trailing = 64u8.checked_sub(leading)?.checked_sub(significant)?;
            }
            let significant = 64u8.checked_sub(leading)?.checked_sub(trailing)?;
            v ^= r.bits(significant)? << trailing;
        }
        out.push((t, f64::from_bits(v)));
    }
    Some(out)
}

/// A delta-of-delta written in `bits` bits. The ranges are asymmetric, as in Prometheus's XOR
/// chunk (`bitRange`): `-(2^(bits-1) - 1) ..= 2^(bits-1)`, so the pattern `2^(bits-1)` is the
/// positive edge (+64, +256, +2048), not the negative one a plain sign extension would give.
fn dod_from_bits(value: u64, bits: u32) -> i64 {
    if value > 1 << (bits - 1) {
        value as i64 - (1 << bits)
    } else {
        value as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut e = ChunkEncoder::new();
        for &(t, v) in samples {
            e.append(t, v);
        }
        let bytes = e.encode();
        let back = decode(&bytes).unwrap();
        assert_eq!(back.len(), samples.len());
        for (a, b) in back.iter().zip(samples) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.to_bits(), b.1.to_bits(), "value at {}", a.0);
        }
        let again = ChunkEncoder::from_encoded(&bytes).unwrap();
        assert_eq!(again.encode(), bytes);
        bytes
    }

    #[test]
    fn regular_scrapes_cost_under_two_bytes_per_sample() {
        let samples: Vec<_> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i * 3 + i % 7) as f64))
            .collect();
        let bytes = roundtrip(&samples);
        assert!(bytes.len() < 2 * 120, "{} bytes", bytes.len());
    }

    #[test]
    fn irregular_times_and_special_values_round_trip() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let mut samples = vec![
            (-5, 1.5),
            (0, f64::NAN),
            (1, stale),
            (2, f64::INFINITY),
            (3, f64::NEG_INFINITY),
            (1_000_000_000, -0.0),
            (1_000_000_001, f64::MAX),
            (1_000_000_003, f64::MIN_POSITIVE),
            (i64::MAX / 2, 0.1),
        ];
        let mut t = i64::MAX / 2;
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..500 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            t += (state % 100_000) as i64 + 1;
            samples.push((t, f64::from_bits(state)));
        }
        roundtrip(&samples);
        roundtrip(&[]);
        roundtrip(&[(7, 7.0)]);
    }

    /// Samples 15 s apart but for `dods`, each added to the delta once.
    fn with_dods(dods: &[i64]) -> Vec<(i64, f64)> {
        let mut t = 1_700_000_000_123i64;
        let mut delta = 15_000i64;
        let mut out = vec![(t, 0.0), (t + delta, 1.0)];
        t += delta;
        for (i, dod) in dods.iter().enumerate() {
            delta += dod;
            t += delta;
            out.push((t, i as f64 + 2.0));
        }
        out
    }

    #[test]
    fn the_reported_jitter_reads_back_at_the_times_written() {
        // The reproduction: deltas of deltas 0, 64, 0, 256, 0, 2048 came back with the
        // wrong sign, and every later sample drifted.
        let t0 = 1_700_000_000_000i64;
        let offsets = [0, 15_000, 30_000, 45_064, 60_128, 75_448, 90_768, 108_136];
        let samples: Vec<_> = offsets.iter().map(|o| (t0 + o, *o as f64)).collect();
        roundtrip(&samples);
    }

    #[test]
    fn every_delta_of_delta_bucket_edge_round_trips() {
        // Bucket edges of the 7-, 9- and 12-bit ranges (-63..=64, -255..=256, -2047..=2048)
        // and the 64-bit fallback, each alone and after each other.
        let edges: [i64; 27] = [
            0,
            1,
            -1,
            -63,
            63,
            64,
            65,
            -64,
            -65,
            -255,
            255,
            256,
            257,
            -256,
            -257,
            -2047,
            2047,
            2048,
            2049,
            -2048,
            -2049,
            4_000_000,
            -4_000_000,
            1 << 40,
            -(1 << 40),
            i64::MAX / 4,
            i64::MIN / 4,
        ];
        for dod in edges {
            let samples = with_dods(&[dod]);
            roundtrip(&samples);
            let back = decode(
                &ChunkEncoder::from_encoded(&roundtrip(&samples))
                    .unwrap()
                    .encode(),
            );
            assert_eq!(back.unwrap(), samples, "dod {dod}");
        }
        roundtrip(&with_dods(&edges));
        let mut reversed = edges;
        reversed.reverse();
        roundtrip(&with_dods(&reversed));
        // The pattern of each range's positive edge, repeated: no drift accumulates.
        roundtrip(&with_dods(&[
            64, 0, 256, 0, 2048, 0, 64, -64, 256, -256, 2048, -2048,
        ]));
    }

    #[test]
    fn extreme_times_round_trip() {
        roundtrip(&[(i64::MIN, 1.0), (0, 2.0), (i64::MAX, 3.0)]);
        roundtrip(&[(i64::MIN, 1.0), (i64::MAX, 2.0)]);
        roundtrip(&[(-1, 1.0), (0, 2.0), (1, 3.0), (3, 4.0), (i64::MAX - 1, 5.0)]);
    }

    #[test]
    fn value_encoding_edges_round_trip() {
        // XOR windows: reuse of the previous window, a wider one, 64 significant bits (written
        // as 0), leading zeros past 31 (capped), sign flips, and repeats.
        let values = [
            0.0,
            0.0,
            1.0,
            1.0000000000000002,
            -1.0,
            f64::from_bits(1),
            f64::from_bits(u64::MAX),
            f64::from_bits(0x8000_0000_0000_0001),
            f64::from_bits(0x0000_0001_0000_0000),
            f64::from_bits(0x0000_0001_0000_0001),
            f64::from_bits(0x7ff0_0000_0000_0002),
            f64::NAN,
            1e308,
            -1e-308,
            42.0,
            42.0,
        ];
        let samples: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (1_000 + i as i64 * 15_001, *v))
            .collect();
        roundtrip(&samples);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// A scrape-like step: jittered, a gap, a burst, or an extreme jump.
        fn step() -> impl Strategy<Value = i64> {
            prop_oneof![
                8 => 15_000i64 - 2_500..=15_000 + 2_500,
                1 => 60_000i64..=6 * 3_600_000,
                1 => 1i64..=100,
                1 => 1i64..=1 << 45,
            ]
        }

        /// A counter that sometimes resets, a random value, or a stale marker.
        fn value() -> impl Strategy<Value = (u8, u64)> {
            (0u8..10, any::<u64>())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            #[test]
            fn encode_decode_reencode(
                start in any::<i64>().prop_map(|t| t / 4),
                steps in proptest::collection::vec((step(), value()), 0..300),
            ) {
                let mut samples = Vec::with_capacity(steps.len());
                let (mut t, mut counter) = (start, 0.0f64);
                for (i, (dt, (kind, bits))) in steps.into_iter().enumerate() {
                    if i > 0 {
                        t = t.saturating_add(dt);
                        if samples.last().is_some_and(|(last, _)| *last == t) {
                            break; // saturated at the end of time
                        }
                    }
                    let v = match kind {
                        0 => { counter = (bits % 10) as f64; counter } // a reset
                        1 => f64::from_bits(bits),
                        2 => f64::from_bits(0x7ff0_0000_0000_0002),
                        _ => { counter += (bits % 1000) as f64 / 8.0; counter }
                    };
                    samples.push((t, v));
                }
                let mut e = ChunkEncoder::new();
                for &(t, v) in &samples {
                    e.append(t, v);
                }
                let bytes = e.encode();
                let back = decode(&bytes).unwrap();
                prop_assert_eq!(back.len(), samples.len());
                for (a, b) in back.iter().zip(&samples) {
                    prop_assert_eq!(a.0, b.0);
                    prop_assert_eq!(a.1.to_bits(), b.1.to_bits());
                }
                // From the decoded state (as the head rebuilt at start): the same bytes, and
                // appending more keeps every time.
                let mut again = ChunkEncoder::from_encoded(&bytes).unwrap();
                prop_assert_eq!(again.encode(), bytes);
                if let Some(last) = again.last_time() {
                    if last < i64::MAX - 20_000 {
                        again.append(last + 15_064, 1.0);
                        again.append(last + 30_128, 2.0);
                        let more = decode(&again.encode()).unwrap();
                        let bits = |s: &[(i64, f64)]| -> Vec<(i64, u64)> {
                            s.iter().map(|(t, v)| (*t, v.to_bits())).collect()
                        };
                        prop_assert_eq!(bits(&more[..samples.len()]), bits(&back));
                        prop_assert_eq!(more[samples.len()].0, last + 15_064);
                        prop_assert_eq!(more[samples.len() + 1].0, last + 30_128);
                    }
                }
            }

            #[test]
            fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = decode(&bytes);
                let _ = ChunkEncoder::from_encoded(&bytes);
            }
        }
    }

    #[test]
    fn garbage_is_refused_not_a_panic() {
        assert!(decode(&[]).is_none());
        assert!(decode(&[0, 5, 1, 2]).is_none());
        let mut bytes = roundtrip(&[(1, 1.0), (2, 5.0), (4, 9.0)]);
        bytes.truncate(bytes.len() - 1);
        let _ = decode(&bytes);
    }
}
