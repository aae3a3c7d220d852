//! The Gorilla chunk decoder on arbitrary bytes (a damaged file must be an error, not a
//! crash), and encode → decode round trips of what it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_storage::series::chunk::{decode, ChunkEncoder};

fuzz_target!(|data: &[u8]| {
    let decoded = decode(data);
    if let Some(encoder) = ChunkEncoder::from_encoded(data) {
        let again = decode(&encoder.encode());
        assert_eq!(again.as_ref().map(Vec::len), Some(encoder.len()));
    }
    // Whatever decoded, encoded again, decodes to the same samples.
    if let Some(samples) = decoded {
        let mut encoder = ChunkEncoder::new();
        let mut last = i64::MIN;
        for &(t, v) in &samples {
            if t <= last {
                return;
            }
            last = t;
            encoder.append(t, v);
        }
        let round = decode(&encoder.encode()).unwrap_or_default();
        assert_eq!(round.len(), samples.len());
        for ((t1, v1), (t2, v2)) in round.iter().zip(&samples) {
            assert_eq!(t1, t2);
            assert_eq!(v1.to_bits(), v2.to_bits());
        }
    }
});
