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
                self.delta = t - self.t;
                self.write_dod(self.delta);
                self.write_value(bits);
            }
            _ => {
                let delta = t - self.t;
                self.write_dod(delta - self.delta);
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
            sign_extend(r.bits(7)?, 7)
        } else if !r.bit()? {
            sign_extend(r.bits(9)?, 9)
        } else if !r.bit()? {
            sign_extend(r.bits(12)?, 12)
        } else {
            r.bits(64)? as i64
        };
        delta = if i == 1 { dod } else { delta + dod };
        t += delta;
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

fn sign_extend(value: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((value << shift) as i64) >> shift
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

    #[test]
    fn garbage_is_refused_not_a_panic() {
        assert!(decode(&[]).is_none());
        assert!(decode(&[0, 5, 1, 2]).is_none());
        let mut bytes = roundtrip(&[(1, 1.0), (2, 5.0), (4, 9.0)]);
        bytes.truncate(bytes.len() - 1);
        let _ = decode(&bytes);
    }
}
