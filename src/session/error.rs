//! Errors of the session store. Most operations never fail (they fall back to
//! local state); these are the cases a caller must hear about.

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(String),
    #[error("the Redis session store needs a running Tokio runtime")]
    NoRuntime,
    #[error("the inbox was already taken")]
    InboxTaken,
    #[error("cross-instance delivery unavailable: {0}")]
    Unavailable(String),
}

/// Why one Redis operation failed. The store falls back to local state and
/// reports itself degraded with this reason.
#[derive(Debug, thiserror::Error)]
pub enum RedisOpError {
    #[error("no Redis connection: {0}")]
    Pool(#[from] deadpool_redis::PoolError),
    #[error(transparent)]
    Redis(#[from] deadpool_redis::redis::RedisError),
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("subscribing timed out")]
    SubscribeTimeout,
}
