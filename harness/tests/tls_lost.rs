//! A lost connection is never a refusal: the TLS layer's verdicts against a server
//! that drops some connections at the start of TLS (reset after the STARTTLS
//! go-ahead, or closed before the ServerHello, as an overloaded server or a
//! middlebox does) are the verdicts against the same server reached directly,
//! run after run. A probe whose connection was lost is tried again through the
//! governor; only an alert or a ServerHello for another version refuses.

use mailtls::checks::Catalogue;
use mailtls::report::model::Outcome;
use mailtls::runner::{run, RunOptions};
use mailtls::server::{RunningServer, ServerConfig};
use mailtls::target::TargetSpec;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the reference server says when it lets TLS begin.
const GO_AHEAD: &[u8] = b"220 2.0.0 Ready to start TLS\r\n";

/// How long one forwarding connection may live: the test's own bound.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// How a connection of the proxy ends at the start of TLS.
#[derive(Clone, Copy)]
enum Cut {
    /// Forwards everything.
    Never,
    /// Resets the client's connection once its ClientHello has arrived.
    ResetAfterHello,
    /// Closes the client's connection (FIN) right after the go-ahead.
    CloseAfterGoAhead,
}

/// Starts a proxy to `upstream` that drops one connection in three at the start
/// of TLS, resetting or closing in turn; the proxy's port.
async fn start_dropping_proxy(upstream: SocketAddr) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let cut = match count.fetch_add(1, Ordering::Relaxed) % 6 {
                1 => Cut::ResetAfterHello,
                4 => Cut::CloseAfterGoAhead,
                _ => Cut::Never,
            };
            tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(CONNECTION_LIFETIME, forward(client, upstream, cut)).await;
            });
        }
    });
    port
}

/// Forwards one connection both ways, dropping it at the start of TLS as `cut` says.
async fn forward(client: TcpStream, upstream: SocketAddr, cut: Cut) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let (go_ahead_tx, go_ahead_rx) = tokio::sync::oneshot::channel::<()>();
    // Server to client, watching for the go-ahead.
    let downstream = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut go_ahead_tx = Some(go_ahead_tx);
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = from_server.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(to_client);
            }
            to_client.write_all(&chunk[..n]).await?;
            if go_ahead_tx.is_some() {
                seen.extend_from_slice(&chunk[..n]);
                if seen.windows(GO_AHEAD.len()).any(|w| w == GO_AHEAD) {
                    let _ = go_ahead_tx.take().map(|tx| tx.send(()));
                    if !matches!(cut, Cut::Never) {
                        return Ok(to_client);
                    }
                }
            }
        }
    });
    // Client to server, until the drop.
    let mut go_ahead_rx = go_ahead_rx;
    let mut go_ahead = false;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        tokio::select! {
            _ = &mut go_ahead_rx, if !go_ahead => {
                go_ahead = true;
                if matches!(cut, Cut::CloseAfterGoAhead) {
                    let mut to_client = downstream.await??;
                    to_client.shutdown().await?;
                    return Ok(());
                }
            }
            read = from_client.read(&mut chunk) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                if go_ahead && matches!(cut, Cut::ResetAfterHello) {
                    // The ClientHello is here: answer it with a reset.
                    let to_client = downstream.await??;
                    let client = from_client.reunite(to_client).unwrap();
                    client.set_zero_linger()?;
                    return Ok(());
                }
                to_server.write_all(&chunk[..n]).await?;
            }
        }
    }
}

/// The status of every `tls.*` check against `target`.
async fn tls_outcomes(target: &str) -> BTreeMap<String, (Outcome, String)> {
    let catalogue = Catalogue::builtin()
        .unwrap()
        .only(&[glob::Pattern::new("tls.*").unwrap()]);
    let spec = TargetSpec::parse(target).unwrap();
    let report = run(&[spec], &catalogue, &RunOptions::default())
        .await
        .unwrap();
    report
        .targets
        .into_iter()
        .flat_map(|t| t.results)
        .map(|r| (r.id, (r.status, r.detail)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_lost_at_the_start_of_tls_change_no_verdict() {
    let server = RunningServer::start(ServerConfig::default()).await.unwrap();
    let upstream = server.endpoint("smtp").unwrap();
    let direct = tls_outcomes(&format!("smtp://{upstream}")).await;
    assert!(direct.len() > 10, "{direct:?}");
    assert!(
        direct.values().all(|(status, _)| *status != Outcome::Error),
        "the plain server gives no error: {direct:?}"
    );
    let port = start_dropping_proxy(upstream).await;
    for round in 1..=2 {
        let dropped = tls_outcomes(&format!("smtp://127.0.0.1:{port}")).await;
        let differing: Vec<String> = direct
            .iter()
            .filter(|(id, (status, _))| dropped.get(*id).map(|(s, _)| s) != Some(status))
            .map(|(id, (status, detail))| {
                let (got, got_detail) = &dropped[id];
                format!("{id}: expected {status:?} ({detail}), got {got:?} ({got_detail})")
            })
            .collect();
        assert!(
            differing.is_empty(),
            "round {round}: verdicts changed by lost connections:\n{}",
            differing.join("\n")
        );
    }
    server.shutdown().await;
}

/// Statuses of `report.json` in `dir`, by check id.
fn report_statuses(dir: &std::path::Path) -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["results"].as_array().unwrap().iter())
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap().to_string();
            (field("id"), (field("status"), field("detail")))
        })
        .collect()
}

/// A run that runs out of file descriptors of its own (`prlimit --nofile`) slows
/// down instead of reading its failed connects as refusals: the same verdicts
/// as a run with the usual limit, or else `error` naming the limit, never a
/// refusal such as "only TLS 1.3 is accepted".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_changes_no_verdict() {
    let server = RunningServer::start(ServerConfig::default()).await.unwrap();
    let target = format!("smtp://{}", server.endpoint("smtp").unwrap());
    let run = |prefix: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new(prefix[0]);
        command.args(&prefix[1..]);
        command.args([env!("CARGO_BIN_EXE_mailtls"), "run", target.as_str()]);
        command.args(["--only", "tls.*", "--format", "json", "--report-dir"]);
        command.arg(dir.path());
        let out = command.output().expect("run mailtls");
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        report_statuses(dir.path())
    };
    let usual = run(&["env"]);
    // 16 descriptors leave a handful for sockets once the runtime, stdio and
    // the report's files have theirs (measured: 18 is enough for this run).
    let starved = run(&["prlimit", "--nofile=16:16"]);
    let wrong: Vec<String> = usual
        .iter()
        .filter(|(id, (status, _))| {
            let got = &starved[*id].0;
            got != status && got != "error"
        })
        .map(|(id, (status, _))| format!("{id}: {status} became {:?}", starved[id]))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    for (status, detail) in starved.values() {
        if status == "error" {
            assert!(detail.contains("ulimit -n"), "{detail}");
        }
    }
    server.shutdown().await;
}
