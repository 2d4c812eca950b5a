//! Carries one client connection to the upstream server: two reader tasks feed a
//! hub that splits cleartext into lines for the attack and, once the session turns
//! to TLS, relays bytes as they come. Every read has the idle deadline; buffers
//! and the session's length are capped.

use super::attack::Tamper;
use super::{MitmConfig, SessionRecord};
use crate::session::Transcript;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Longest cleartext line handled; a longer one ends the session.
const MAX_LINE: usize = 8192;
/// Most bytes relayed in one session, both ways.
const MAX_SESSION: usize = 64 * 1024 * 1024;

#[derive(Clone, Copy)]
enum Side {
    Client,
    Server,
}

/// Relays one session and reports what the client did.
pub(super) async fn carry(client: TcpStream, config: &MitmConfig) -> SessionRecord {
    let mut record = SessionRecord {
        exposed: Vec::new(),
        actions: Vec::new(),
        went_tls: false,
        transcript: Transcript::new(),
        error: None,
    };
    let upstream = (config.upstream.host.as_str(), config.upstream.port);
    let server = match tokio::time::timeout(config.idle, TcpStream::connect(upstream)).await {
        Ok(Ok(server)) => server,
        Ok(Err(e)) => {
            record.error = Some(format!("cannot reach {}: {e}", config.upstream));
            return record;
        }
        Err(_) => {
            record.error = Some(format!("{} did not answer in time", config.upstream));
            return record;
        }
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (client_read, mut client_write) = client.into_split();
    let (server_read, mut server_write) = server.into_split();
    let (tx, mut rx) = mpsc::channel(64);
    let readers = [
        tokio::spawn(read_side(client_read, Side::Client, tx.clone())),
        tokio::spawn(read_side(server_read, Side::Server, tx)),
    ];
    let mut tamper = Tamper::new(config.upstream.protocol(), config.attack);
    let (mut from_client, mut from_server) = (Vec::new(), Vec::new());
    let mut raw = false;
    let mut total = 0usize;
    let outcome: Result<(), String> = async {
        loop {
            let event = match tokio::time::timeout(config.idle, rx.recv()).await {
                Err(_) => return Err(format!("no traffic for {} ms", config.idle.as_millis())),
                Ok(None) => return Ok(()),
                Ok(Some(event)) => event,
            };
            let (side, bytes): (Side, Vec<u8>) = event;
            if bytes.is_empty() {
                return Ok(()); // one side closed
            }
            total += bytes.len();
            if total > MAX_SESSION {
                return Err("session too long".into());
            }
            if raw {
                let writer = match side {
                    Side::Client => &mut server_write,
                    Side::Server => &mut client_write,
                };
                writer.write_all(&bytes).await.map_err(|e| e.to_string())?;
                continue;
            }
            let buffer = match side {
                Side::Client => &mut from_client,
                Side::Server => &mut from_server,
            };
            buffer.extend_from_slice(&bytes);
            if buffer.len() > MAX_LINE && !buffer.contains(&b'\n') {
                return Err("a line longer than the cap".into());
            }
            while let Some(end) = from_client.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = from_client.drain(..=end).collect();
                let out = tamper.client_line(&line);
                record.transcript.client(&out.shown);
                if let Some(bytes) = out.to_server {
                    server_write
                        .write_all(&bytes)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                if let Some(bytes) = out.to_client {
                    record.transcript.note("the proxy answered itself");
                    record.transcript.server(&bytes);
                    client_write
                        .write_all(&bytes)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            while let Some(end) = from_server.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = from_server.drain(..=end).collect();
                let (out, to_tls) = tamper.server_line(&line);
                if !out.is_empty() {
                    record.transcript.server(&out);
                    client_write
                        .write_all(&out)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                if to_tls {
                    raw = true;
                    record.went_tls = true;
                    record
                        .transcript
                        .note("TLS handshake follows: relayed byte for byte");
                    // Whatever either side sent past this point is TLS or was
                    // pipelined in cleartext; pass it on unchanged.
                    server_write
                        .write_all(&std::mem::take(&mut from_client))
                        .await
                        .map_err(|e| e.to_string())?;
                    client_write
                        .write_all(&std::mem::take(&mut from_server))
                        .await
                        .map_err(|e| e.to_string())?;
                    break;
                }
            }
        }
    }
    .await;
    for reader in readers {
        reader.abort();
    }
    let _ = client_write.shutdown().await;
    let _ = server_write.shutdown().await;
    record.exposed = tamper.exposed;
    record.actions = tamper.actions;
    if let Err(e) = outcome {
        record.transcript.note(format!("session ended: {e}"));
    }
    record
}

/// Reads one side into the hub; an empty chunk means that side closed.
async fn read_side(mut read: OwnedReadHalf, side: Side, tx: mpsc::Sender<(Side, Vec<u8>)>) {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = read.read(&mut chunk).await.unwrap_or(0);
        if tx.send((side, chunk[..n].to_vec())).await.is_err() || n == 0 {
            return;
        }
    }
}
