//! The command side of Redis: a deadpool of multiplexed connections, every
//! round trip bounded so a stalled server cannot hold up a webhook.

use std::time::Duration;

use deadpool_redis::redis::{self, FromRedisValue};
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};

use super::error::{RedisOpError, SessionError};

/// Webhooks, heartbeat and replies share one instance's pool; a handful of
/// multiplexed connections carry thousands of requests per second.
const POOL_SIZE: usize = 8;

#[derive(Clone)]
pub(crate) struct RedisLink {
    pool: Pool,
    op_timeout: Duration,
}

impl RedisLink {
    /// Parses `url` and builds the pool without connecting, so an unreachable
    /// Redis is not an error here; a malformed URL is.
    pub(crate) fn open(
        url: &str,
        op_timeout: Duration,
    ) -> Result<(Self, redis::Client), SessionError> {
        let client =
            redis::Client::open(url).map_err(|e| SessionError::InvalidUrl(e.to_string()))?;
        let mut config = Config::from_url(url);
        config.pool = Some(PoolConfig {
            timeouts: Timeouts {
                wait: Some(op_timeout),
                create: Some(op_timeout),
                recycle: Some(op_timeout),
            },
            ..PoolConfig::new(POOL_SIZE)
        });
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| SessionError::InvalidUrl(e.to_string()))?;
        Ok((Self { pool, op_timeout }, client))
    }

    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, RedisOpError> {
        let attempt = async {
            let mut conn = self.pool.get().await?;
            Ok(cmd.query_async::<T>(&mut conn).await?)
        };
        self.bounded(attempt).await
    }

    pub(crate) async fn query_pipe<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, RedisOpError> {
        let attempt = async {
            let mut conn = self.pool.get().await?;
            Ok(pipe.query_async::<T>(&mut conn).await?)
        };
        self.bounded(attempt).await
    }

    /// Publishes `message`; returns how many subscribers received it.
    pub(crate) async fn publish(&self, channel: &str, message: &str) -> Result<i64, RedisOpError> {
        self.query(redis::cmd("PUBLISH").arg(channel).arg(message))
            .await
    }

    async fn bounded<T>(
        &self,
        attempt: impl std::future::Future<Output = Result<T, RedisOpError>>,
    ) -> Result<T, RedisOpError> {
        match tokio::time::timeout(self.op_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(RedisOpError::Timeout(self.op_timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_url_is_rejected_at_once() {
        let err = RedisLink::open("not a url", OP).err();
        assert!(matches!(err, Some(SessionError::InvalidUrl(_))), "{err:?}");
    }

    const OP: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn unreachable_server_fails_within_the_bound() {
        let (link, _) = RedisLink::open("redis://127.0.0.1:1", OP).unwrap();
        let started = std::time::Instant::now();
        let r: Result<String, RedisOpError> = link.query(&redis::cmd("PING")).await;
        assert!(r.is_err());
        assert!(started.elapsed() < OP * 3);
    }
}
