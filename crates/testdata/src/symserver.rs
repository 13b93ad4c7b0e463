//! A tiny HTTP/1.1 symbol server on 127.0.0.1 for the symbols-on-demand tests (no outside network):
//! each routed path answers 200 with a body, 503 a number of times first, or hangs; every other path
//! is 404. It records the paths asked, and stops (its port then refuses) when dropped.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the test server answers for one path.
#[derive(Debug, Clone)]
pub enum Route {
    /// 200 with this body.
    Body(Vec<u8>),
    /// 503 this many times, then 200 with the body.
    FailThen(Arc<AtomicU32>, Vec<u8>),
    /// Accepts, reads the request, never answers (until the test ends).
    Hang,
}

/// A tiny HTTP/1.1 server on 127.0.0.1; every path not routed is 404. Records the paths asked.
#[derive(Debug)]
pub struct Server {
    /// The port.
    pub port: u16,
    hits: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Starts serving `routes` (paths under `/symbols`) on a free port.
    pub fn start(routes: HashMap<String, Route>) -> std::io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (Arc::clone(&hits), Arc::clone(&stop));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (routes, h, s) = (routes.clone(), Arc::clone(&h), Arc::clone(&s));
                std::thread::spawn(move || serve(conn, &routes, &h, &s));
            }
        });
        Ok(Server { port, hits, stop })
    }

    /// The server's base URL (`http://127.0.0.1:PORT/symbols`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/symbols", self.port)
    }

    /// The paths asked so far, in order.
    pub fn hits(&self) -> Vec<String> {
        lock(&self.hits).clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and closes the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn serve(
    mut conn: TcpStream,
    routes: &HashMap<String, Route>,
    hits: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&req);
    let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
    lock(hits).push(path.clone());
    let route = path
        .strip_prefix("/symbols")
        .and_then(|p| routes.get(p))
        .cloned();
    let (status, body) = match route {
        Some(Route::Body(b)) => ("200 OK", b),
        Some(Route::FailThen(left, b)) => {
            if left.load(Ordering::SeqCst) > 0 {
                left.fetch_sub(1, Ordering::SeqCst);
                ("503 Service Unavailable", Vec::new())
            } else {
                ("200 OK", b)
            }
        }
        Some(Route::Hang) => {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
        None => ("404 Not Found", Vec::new()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
}
