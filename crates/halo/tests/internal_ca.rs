//! A Halo behind an internal CA: its certificate is refused as from an unknown
//! issuer until the CA file is configured, and then trusted. The server here is
//! a tiny HTTPS endpoint (rustls over std sockets) with a test-only certificate
//! from `tests/tls/`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use halo::{HaloClient, HaloConfig, HaloError, HostPolicy, RetryPolicy, Secret, SiteUrl};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const CA_PEM: &[u8] = include_bytes!("tls/internal-ca.pem");
const SERVER_PEM: &[u8] = include_bytes!("tls/halo-server.pem");
const SERVER_KEY: &[u8] = include_bytes!("tls/halo-server.key");

/// Serves `GET /api/authinfo` over TLS with the internal CA's server
/// certificate; returns the site URL and how many requests were answered.
fn internal_halo() -> (String, Arc<AtomicUsize>) {
    let certificates = CertificateDer::pem_slice_iter(SERVER_PEM)
        .collect::<Result<Vec<_>, _>>()
        .expect("the test certificate");
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).expect("the test key");
    let tls = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certificates, key)
            .expect("a server configuration"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("an address"));
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = answered.clone();
    let auth_url = format!("{url}/auth");

    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(connection) = rustls::ServerConnection::new(tls.clone()) else {
                continue;
            };
            let mut stream = rustls::StreamOwned::new(connection, stream);

            // A refused handshake ends in a read error: the next client may try.
            let mut request = Vec::new();
            let mut buffer = [0_u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            if !String::from_utf8_lossy(&request).starts_with("GET /api/authinfo") {
                continue;
            }

            counter.fetch_add(1, Ordering::SeqCst);
            let body = serde_json::json!({ "auth_url": auth_url }).to_string();
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
    });
    (url, answered)
}

fn client(url: &str, ca_cert_pem: Option<Vec<u8>>) -> HaloClient {
    let site = SiteUrl::parse(url, HostPolicy::AllowPrivate)
        .expect("valid")
        .site;
    let mut config = HaloConfig::new(site, "parley", Secret::new("secret-value"));
    config.retry = RetryPolicy::NEVER;
    config.timeout = Duration::from_secs(5);
    config.ca_cert_pem = ca_cert_pem;
    HaloClient::new(config).expect("client")
}

#[tokio::test]
async fn an_unknown_issuer_is_a_tls_failure_that_points_at_the_ca_file() {
    let (url, answered) = internal_halo();

    let error = client(&url, None)
        .auth_info()
        .await
        .expect_err("the internal CA is not trusted");

    match &error {
        HaloError::Tls { host, reason } => {
            assert_eq!(host, "127.0.0.1");
            assert!(reason.to_lowercase().contains("issuer"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(error.fix().is_some_and(|fix| fix.contains("internal CA")));
    assert_eq!(answered.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_extra_ca_file_makes_the_internal_certificate_trusted() {
    let (url, answered) = internal_halo();

    let info = client(&url, Some(CA_PEM.to_vec()))
        .auth_info()
        .await
        .expect("trusted through the CA file");

    assert_eq!(info.auth_url, Some(format!("{url}/auth")));
    assert_eq!(answered.load(Ordering::SeqCst), 1);
}
