//! Trace and span ids: fixed-size, never all zero, shown as lowercase hex.

use std::fmt;
use std::str::FromStr;

/// Why bytes or text are not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be {expected} bytes, got {got}")]
    Length { expected: usize, got: usize },
    #[error("must not be all zero")]
    AllZero,
    #[error("must be {expected} hex digits")]
    Hex { expected: usize },
}

macro_rules! id_type {
    ($name:ident, $len:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            /// The id in `bytes`, which must be exactly the right length and not all zero.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
                let arr: [u8; $len] = bytes.try_into().map_err(|_| IdError::Length {
                    expected: $len,
                    got: bytes.len(),
                })?;
                if arr == [0u8; $len] {
                    return Err(IdError::AllZero);
                }
                Ok(Self(arr))
            }

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            pub fn to_hex(&self) -> String {
                const_hex::encode(self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let mut arr = [0u8; $len];
                const_hex::decode_to_slice(s, &mut arr)
                    .map_err(|_| IdError::Hex { expected: $len * 2 })?;
                Self::from_slice(&arr)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }
    };
}

id_type!(TraceId, 16, "A W3C trace id: 16 bytes, not all zero.");
id_type!(SpanId, 8, "A span id: 8 bytes, not all zero.");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_hex() {
        let id: TraceId = "5b8efff798038103d269b633813fc60c".parse().unwrap();
        assert_eq!(id.to_string(), "5b8efff798038103d269b633813fc60c");
        let span: SpanId = "EEE19B7EC3C1B174".parse().unwrap();
        assert_eq!(span.to_string(), "eee19b7ec3c1b174");
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(
            TraceId::from_slice(&[1; 15]),
            Err(IdError::Length {
                expected: 16,
                got: 15
            })
        );
        assert_eq!(SpanId::from_slice(&[0; 8]), Err(IdError::AllZero));
        assert_eq!("zz".parse::<SpanId>(), Err(IdError::Hex { expected: 16 }));
        assert_eq!(
            "00000000000000000000000000000000".parse::<TraceId>(),
            Err(IdError::AllZero)
        );
    }
}
