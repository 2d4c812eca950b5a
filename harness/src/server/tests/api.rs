//! The public API: flaw names and sets, endpoints, the certificate, startup
//! errors and shutdown.

use std::net::{IpAddr, Ipv4Addr};

use super::{server, Client};
use crate::server::{Endpoint, Flaw, Flaws, Ports, RunningServer, ServerConfig, ServerError};

#[test]
fn flaw_names_round_trip() {
    let names: Vec<&str> = Flaw::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "no-starttls",
            "starttls-injection",
            "plaintext-auth",
            "stale-capabilities",
            "state-not-reset",
            "late-injection",
            "login-despite-logindisabled",
            "session-fixation",
            "bare-lf-data",
            "no-tls-required",
            "expired-cert",
            "wrong-host-cert",
            "self-signed-cert",
            "weak-key-cert",
            "tls12-only",
            "post-starttls-crash"
        ]
    );
    for flaw in Flaw::ALL {
        assert_eq!(flaw.name().parse::<Flaw>(), Ok(flaw));
        assert_eq!(flaw.to_string(), flaw.name());
        assert!(!flaw.description().is_empty() && !flaw.description().contains('\n'));
    }
}

#[test]
fn unknown_flaw_lists_valid_names() {
    let err = "no-such-flaw".parse::<Flaw>().expect_err("unknown");
    let text = err.to_string();
    assert!(text.contains("no-such-flaw"), "{text}");
    for flaw in Flaw::ALL {
        assert!(text.contains(flaw.name()), "{text}");
    }
    assert!("plaintext-auth,bogus".parse::<Flaws>().is_err());
    assert!("plaintext-auth,,no-starttls".parse::<Flaws>().is_err());
}

#[test]
fn flaw_sets() {
    let none: Flaws = "".parse().expect("empty");
    assert!(none.is_empty());
    assert_eq!(none, Flaws::default());
    assert_eq!(none.to_string(), "");

    let set: Flaws = "state-not-reset, no-starttls,no-starttls"
        .parse()
        .expect("list");
    assert!(!set.is_empty());
    assert!(set.contains(Flaw::NoStarttls) && set.contains(Flaw::StateNotReset));
    assert!(!set.contains(Flaw::PlaintextAuth));
    assert_eq!(
        set.iter().collect::<Vec<_>>(),
        [Flaw::NoStarttls, Flaw::StateNotReset]
    );
    assert_eq!(set.to_string(), "no-starttls,state-not-reset");
    assert_eq!(set.to_string().parse::<Flaws>(), Ok(set));

    let mut all = Flaws::default();
    for flaw in Flaw::ALL {
        all.insert(flaw);
    }
    assert_eq!(all.iter().count(), Flaw::ALL.len());
    assert_eq!(all, Flaw::ALL.into_iter().collect());
}

#[test]
fn config_defaults() {
    let config = ServerConfig::default();
    assert!(config.flaws.is_empty());
    assert_eq!(config.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(config.hostname, "mail.mailtls.test");
    assert_eq!(config.user, "mailtls");
    assert_eq!(config.password, "mailtls-secret");
    assert_eq!(config.ports, Ports::default());
}

#[tokio::test]
async fn seven_endpoints() {
    let server = server("").await;
    let schemes: Vec<&str> = server.endpoints().iter().map(|e| e.scheme).collect();
    assert_eq!(
        schemes,
        [
            "smtp",
            "submission",
            "smtps",
            "imap",
            "imaps",
            "pop3",
            "pop3s"
        ]
    );
    let mut ports: Vec<u16> = server.endpoints().iter().map(|e| e.addr.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 7);
    assert!(!ports.contains(&0));
    for endpoint in server.endpoints() {
        assert_eq!(server.endpoint(endpoint.scheme), Some(endpoint.addr));
        assert_eq!(
            endpoint.to_string(),
            format!("{}://127.0.0.1:{}", endpoint.scheme, endpoint.addr.port())
        );
    }
    assert_eq!(server.endpoint("http"), None);
    let endpoint = Endpoint {
        scheme: "imaps",
        addr: "[::1]:993".parse().expect("addr"),
    };
    assert_eq!(endpoint.to_string(), "imaps://[::1]:993");
}

#[tokio::test]
async fn serves_its_certificate() {
    let server = server("").await;
    let der = server.certificate_der();
    for name in [&b"mail.mailtls.test"[..], b"localhost", &[127, 0, 0, 1]] {
        assert!(
            der.windows(name.len()).any(|w| w == name),
            "SAN {name:?} missing"
        );
    }
    for scheme in ["smtps", "imaps", "pop3s"] {
        let client = Client::connect(&server, scheme).await;
        assert_eq!(client.seen_certificate().as_deref(), Some(der), "{scheme}");
    }
}

#[tokio::test]
async fn fixed_port_conflict_is_a_bind_error() {
    let first = server("").await;
    let taken = first.endpoint("imap").expect("imap").port();
    let config = ServerConfig {
        ports: Ports {
            imap: taken,
            ..Ports::default()
        },
        ..ServerConfig::default()
    };
    match RunningServer::start(config).await {
        Err(ServerError::Bind { addr, .. }) => assert_eq!(addr.port(), taken),
        Err(other) => panic!("wrong error {other}"),
        Ok(_) => panic!("bound a taken port"),
    }
}

#[tokio::test]
async fn invalid_hostname_is_a_cert_error() {
    let config = ServerConfig {
        hostname: "mäil.test".to_owned(),
        ..ServerConfig::default()
    };
    assert!(matches!(
        RunningServer::start(config).await,
        Err(ServerError::Cert(_))
    ));
}

#[tokio::test]
async fn shutdown_ends_sessions_and_listeners() {
    let server = server("").await;
    let addr = server.endpoint("smtp").expect("smtp");
    let mut plain = Client::connect(&server, "smtp").await;
    plain.line().await;
    let mut tls = Client::connect(&server, "imaps").await;
    tls.line().await;
    server.shutdown().await;
    assert!(plain.closed().await);
    assert!(tls.closed().await);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn drop_stops_the_server() {
    let server = server("").await;
    let addr = server.endpoint("pop3").expect("pop3");
    let mut client = Client::connect(&server, "pop3").await;
    client.line().await;
    drop(server);
    assert!(client.closed().await);
    // Aborting is asynchronous; the listener goes soon, not necessarily at once.
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("still accepting after drop");
}
