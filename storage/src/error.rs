/// Everything that can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// RocksDB refused or failed an operation (I/O error, full disk, closed database).
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A stored record does not decode: the data directory is damaged or from a newer version.
    #[error("corrupt record in {cf} at key {key}: {reason}")]
    Corrupt {
        cf: &'static str,
        key: String,
        reason: String,
    },
    /// The data directory was written by a format this version does not read.
    #[error("data directory {path} has format version {found}, this build reads {expected}")]
    FormatVersion {
        path: String,
        found: String,
        expected: u32,
    },
    /// A column family is missing from an open database (a bug, or a damaged directory).
    #[error("column family {0} is missing")]
    MissingColumnFamily(&'static str),
    /// The full-text log index failed (tantivy).
    #[error("log index: {0}")]
    Index(String),
    /// A read would pass one of its limits (series, samples).
    #[error("{0}")]
    Limit(String),
    /// The server is busy: the read would pass a budget shared by all running queries;
    /// retrying later may succeed.
    #[error("{0}")]
    Busy(String),
    /// A read ran past its deadline.
    #[error("query ran past its time limit")]
    Timeout,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl StorageError {
    /// True when retrying later may succeed (RocksDB busy, I/O), false for damaged data.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StorageError::Rocks(_)
                | StorageError::Io(_)
                | StorageError::Index(_)
                | StorageError::Busy(_)
        )
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
