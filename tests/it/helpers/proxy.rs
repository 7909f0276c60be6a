//! A TCP proxy between the service and PostgreSQL, cut and restored: what a
//! restart, a failover or a lost network looks like from the service's side.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};

/// A TCP proxy to PostgreSQL that can be cut (every connection through it
/// reset, new ones refused) and restored.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    down: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn to(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (d, l) = (down.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                l.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Proxy { addr, down, links }
    }

    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// `postgres://user@host:port/db?…` with its host and port replaced by `addr`,
/// and the `host:port` it named.
pub fn through(url: &str, addr: std::net::SocketAddr) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth, tail) = rest.split_once('/').unwrap();
    let (user, hostport) = auth.rsplit_once('@').map(|(u, h)| (format!("{u}@"), h)).unwrap_or((String::new(), auth));
    let upstream = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:5432") };
    (format!("{scheme}://{user}{addr}/{tail}"), upstream)
}
