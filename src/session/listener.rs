//! The dedicated pub/sub connection: receives requests for calls this
//! instance owns and replies to requests it forwarded, reconnecting with
//! backoff whenever Redis drops it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis::{self, aio::PubSub, Msg};
use futures_util::StreamExt;
use tokio::sync::{oneshot, watch};

use super::core::{Core, Remote};
use super::error::RedisOpError;
use super::health::Link;
use super::inbox::{InboxRequest, ReplyEnvelope, RequestEnvelope, Responder};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Subscribing is a connect plus two round trips; give it a few operation
/// timeouts so a merely slow Redis is not mistaken for a dead one.
const CONNECT_ROUND_TRIPS: u32 = 4;

pub(crate) async fn run(
    core: Arc<Core>,
    mut shutdown: watch::Receiver<()>,
    first_attempt: oneshot::Sender<()>,
) {
    let Some(remote) = core.remote.as_ref() else {
        return;
    };
    let inbox = core.keys.inbox(&core.instance_id);
    let reply = core.keys.reply(&core.instance_id);
    let mut first_attempt = Some(first_attempt);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let connect = connect(remote, &core, vec![inbox.clone(), reply.clone()]);
        let connected = tokio::select! {
            c = connect => c,
            _ = shutdown.changed() => return,
        };
        match connected {
            Ok(pubsub) => {
                backoff = FIRST_BACKOFF;
                remote.subscribed.store(true, Ordering::SeqCst);
                if core.health.ok(Link::PubSub) {
                    core.resync.notify_one();
                }
                if let Some(tx) = first_attempt.take() {
                    let _ = tx.send(());
                }
                let ended = listen(&core, remote, pubsub, &inbox, &reply, &mut shutdown).await;
                remote.subscribed.store(false, Ordering::SeqCst);
                match ended {
                    Ended::Shutdown => return,
                    Ended::Lost(reason) => core.health.failed(Link::PubSub, reason),
                }
            }
            Err(reason) => {
                core.health.failed(Link::PubSub, reason);
                if let Some(tx) = first_attempt.take() {
                    let _ = tx.send(());
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(core.opts.reconnect_max_backoff);
    }
}

async fn connect(
    remote: &Remote,
    core: &Core,
    channels: Vec<String>,
) -> Result<PubSub, RedisOpError> {
    let attempt = async {
        let mut pubsub = remote.client.get_async_pubsub().await?;
        pubsub.subscribe(channels).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(core.opts.op_timeout * CONNECT_ROUND_TRIPS, attempt).await {
        Ok(Ok(pubsub)) => Ok(pubsub),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(RedisOpError::SubscribeTimeout),
    }
}

enum Ended {
    Shutdown,
    Lost(String),
}

async fn listen(
    core: &Core,
    remote: &Remote,
    pubsub: PubSub,
    inbox: &str,
    reply: &str,
    shutdown: &mut watch::Receiver<()>,
) -> Ended {
    let (mut sink, mut stream) = pubsub.split();
    // A dropped TCP connection ends the stream, but a silently stalled one
    // does not; a periodic PING notices that too.
    let mut probe = tokio::time::interval(core.opts.heartbeat_every);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    probe.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(msg) => dispatch(core, remote, &msg, inbox, reply),
                None => return Ended::Lost("pub/sub connection closed".to_string()),
            },
            _ = probe.tick() => {
                let ping = tokio::time::timeout(core.opts.op_timeout, sink.ping::<redis::Value>()).await;
                match ping {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Ended::Lost(e.to_string()),
                    Err(_) => return Ended::Lost("pub/sub ping timed out".to_string()),
                }
            }
            _ = shutdown.changed() => return Ended::Shutdown,
        }
    }
}

fn dispatch(core: &Core, remote: &Remote, msg: &Msg, inbox: &str, reply: &str) {
    let Ok(text) = msg.get_payload::<String>() else {
        tracing::warn!(
            channel = msg.get_channel_name(),
            "ignoring a non-text pub/sub message"
        );
        return;
    };
    let channel = msg.get_channel_name();
    if channel == inbox {
        on_request(core, remote, &text);
    } else if channel == reply {
        on_reply(remote, &text);
    }
}

fn on_request(core: &Core, remote: &Remote, text: &str) {
    let env: RequestEnvelope = match serde_json::from_str(text) {
        Ok(env) => env,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring a malformed cross-instance request");
            return;
        }
    };
    // Replies only ever go to a reply channel of this deployment, so a bad
    // envelope cannot make us publish into someone's inbox.
    if !env.reply_channel.starts_with(&core.keys.reply("")) {
        tracing::warn!(channel = %env.reply_channel, "ignoring a request with a foreign reply channel");
        return;
    }
    let responder = Responder::remote(
        remote.link.clone(),
        remote.handle.clone(),
        env.reply_channel,
        env.request_id,
    );
    let request = InboxRequest {
        call_sid: env.call_sid,
        payload: env.payload,
        reply: responder,
    };
    // A full or untaken inbox drops the request, and with it the responder,
    // which answers `None` so the requester does not wait out its timeout.
    if let Err(e) = core.inbox_tx.try_send(request) {
        tracing::warn!(error = %e, "cross-instance request dropped: inbox unavailable");
    }
}

fn on_reply(remote: &Remote, text: &str) {
    let env: ReplyEnvelope = match serde_json::from_str(text) {
        Ok(env) => env,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring a malformed cross-instance reply");
            return;
        }
    };
    if let Some(tx) = remote.pending.lock().remove(&env.request_id) {
        let _ = tx.send(env.payload);
    }
}
