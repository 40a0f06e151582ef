//! A TCP load balancer in front of several engine instances, as a failover
//! test needs one: every new connection goes to the first backend (in
//! order) that accepts it, so all traffic reaches the primary while it lives
//! and the next one once it is gone — an active/passive pool. Connections
//! are spliced byte for byte; HTTP and WebSocket alike.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Where each accepted connection went, in accept order.
#[derive(Debug, Clone, Default)]
pub struct BalancerLog {
    /// Index into the backends, or `None` when none accepted.
    pub routed: Vec<Option<usize>>,
}

pub struct Balancer {
    addr: SocketAddr,
    log: Arc<Mutex<BalancerLog>>,
    task: JoinHandle<()>,
}

impl Balancer {
    /// Listens on `127.0.0.1:0` in front of `backends`.
    pub async fn start(backends: Vec<SocketAddr>) -> std::io::Result<Balancer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(BalancerLog::default()));
        let backends = Arc::new(backends);
        let task = tokio::spawn(accept(listener, backends, log.clone()));
        Ok(Balancer { addr, log, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn log(&self) -> BalancerLog {
        self.log.lock().clone()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(
    listener: TcpListener,
    backends: Arc<Vec<SocketAddr>>,
    log: Arc<Mutex<BalancerLog>>,
) {
    while let Ok((mut client, _)) = listener.accept().await {
        let backends = backends.clone();
        let log = log.clone();
        tokio::spawn(async move {
            let (index, upstream) = first_live(&backends).await;
            log.lock().routed.push(index);
            if let Some(mut upstream) = upstream {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        });
    }
}

async fn first_live(backends: &[SocketAddr]) -> (Option<usize>, Option<TcpStream>) {
    for (i, b) in backends.iter().enumerate() {
        if let Ok(stream) = TcpStream::connect(b).await {
            let _ = stream.set_nodelay(true);
            return (Some(i), Some(stream));
        }
    }
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server(tag: u8) -> (SocketAddr, JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1];
                    while s.read_exact(&mut buf).await.is_ok() {
                        if s.write_all(&[tag, buf[0]]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, task)
    }

    async fn ask(addr: SocketAddr) -> Option<u8> {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"x").await.ok()?;
        let mut reply = [0u8; 2];
        s.read_exact(&mut reply).await.ok()?;
        Some(reply[0])
    }

    #[tokio::test]
    async fn the_primary_takes_everything_until_it_is_gone() {
        let (a, a_task) = echo_server(1).await;
        let (b, _b_task) = echo_server(2).await;
        let lb = Balancer::start(vec![a, b]).await.unwrap();
        assert_eq!(ask(lb.addr()).await, Some(1));
        assert_eq!(ask(lb.addr()).await, Some(1));
        a_task.abort();
        // The aborted listener is dropped once its task is gone.
        let mut got = ask(lb.addr()).await;
        for _ in 0..50 {
            if got == Some(2) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            got = ask(lb.addr()).await;
        }
        assert_eq!(got, Some(2));
        let routed = lb.log().routed;
        assert_eq!(&routed[..2], &[Some(0), Some(0)]);
        assert_eq!(routed.last(), Some(&Some(1)));
    }
}
