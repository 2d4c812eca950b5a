//! Credentials never reach any output, in any encoding (issue 13, point 3), and
//! the harness sends them as each protocol requires (point 4): a password with
//! `"` or `\` must log in, so a server that accepts a cleartext LOGIN fails
//! `imap.tls.required` instead of passing on a BAD to a broken command.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use mailtls::checks::{result_of, Catalogue, CheckContext, Verdict};
use mailtls::report::model::{CheckResult, Outcome, Report, Severity, TargetReport};
use mailtls::report::{html, junit, markdown, sarif, verbose};
use mailtls::scenario::{Meta, Needs};
use mailtls::server::{Flaw, Flaws, RunningServer, ServerConfig};
use mailtls::session::transcript::{escape_bytes, render};
use mailtls::session::SessionOptions;
use mailtls::target::{Credentials, Endpoint, Policy, Scheme, TargetSpec};
use mailtls::wire::credentials;
use proptest::prelude::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const USER: &str = "mailtls";

/// Every shape `password` could take in an output: as sent (plain, IMAP quoted,
/// SASL base64, URL-encoded), as the transcript escapes bytes, and as each
/// report format escapes text (JSON, HTML/XML, Markdown, `{:?}`).
fn forbidden(password: &str) -> Vec<String> {
    let imap_quoted = password.replace('\\', "\\\\").replace('"', "\\\"");
    let mut url = url::Url::parse("imap://host").unwrap();
    url.set_username(USER).unwrap();
    url.set_password(Some(password)).unwrap();
    let sent = [
        password.to_string(),
        imap_quoted,
        STANDARD.encode(password),
        STANDARD.encode(format!("\0{USER}\0{password}")),
        STANDARD.encode(format!("{USER}\0{USER}\0{password}")),
        url.password().unwrap_or_default().to_string(),
        percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    ];
    let mut shapes = Vec::new();
    for form in sent {
        let escaped = escape_bytes(form.as_bytes());
        for base in [
            form.clone(),
            escaped.clone(),
            escaped.replace('\r', "\\r").replace('\n', "\\n"),
        ] {
            let json = serde_json::to_string(&base).unwrap();
            let xml = base
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&apos;");
            let debug = format!("{base:?}");
            shapes.extend([
                json[1..json.len() - 1].to_string(),
                html::escape::text(&base),
                xml.replace("&apos;", "&#39;"),
                xml,
                markdown::escape(&base),
                debug[1..debug.len() - 1].to_string(),
                base,
            ]);
        }
    }
    shapes.sort();
    shapes.dedup();
    shapes
}

/// Every output a person or a tool reads: each report format and `-v`.
fn every_output(report: &Report) -> Vec<(&'static str, String)> {
    vec![
        ("report.json", serde_json::to_string_pretty(report).unwrap()),
        ("junit.xml", junit::to_junit(report).unwrap()),
        (
            "report.sarif",
            serde_json::to_string_pretty(&sarif::to_sarif(report)).unwrap(),
        ),
        ("report.html", html::to_html(report)),
        ("summary.md", markdown::to_markdown(report, "report.html")),
        ("-v", verbose::failures(report)),
    ]
}

fn assert_nothing_leaks(report: &Report, password: &str) -> Result<(), TestCaseError> {
    let shapes = forbidden(password);
    for (name, text) in every_output(report) {
        for shape in &shapes {
            prop_assert!(
                !text.contains(shape.as_str()),
                "{name} shows the password as {shape:?}:\n{text}"
            );
        }
    }
    Ok(())
}

fn report_of(results: Vec<CheckResult>, protocol: &str) -> Report {
    Report::new(
        "2026-12-02T00:00:00Z".into(),
        1,
        vec![TargetReport {
            target: format!("{protocol}://127.0.0.1:1"),
            protocol: protocol.into(),
            policy: Policy::Mailbox,
            reachable: true,
            results,
        }],
    )
}

fn meta() -> Meta {
    Meta {
        id: "imap.custom.echo".into(),
        title: "a hostile server echoes the password".into(),
        protocol: None,
        severity: Severity::High,
        references: Vec::new(),
        needs: Needs::default(),
        policies: Vec::new(),
        pass_detail: None,
    }
}

/// A result whose transcript has every form the harness sends the password in,
/// a server that echoes each form back, notes and a detail that quote it.
fn hostile_result(password: &str) -> CheckResult {
    let ctx = CheckContext::new(Endpoint {
        scheme: Scheme::Imap,
        host: "127.0.0.1".into(),
        port: 1,
        credentials: Some(Credentials {
            user: USER.into(),
            password: password.into(),
        }),
    });
    let mut t = ctx.new_transcript();
    if let Ok(login) = credentials::imap_login("a1", USER, password) {
        for chunk in login.chunks() {
            t.client(chunk);
            t.server(b"+ go on\r\n");
        }
    }
    if let Ok(pass) = credentials::pop3_pass(password) {
        t.client(format!("{pass}\r\n").as_bytes());
    }
    if let Ok(plain) = credentials::sasl_plain(USER, password) {
        t.client(format!("AUTH PLAIN {plain}\r\n").as_bytes());
    }
    t.client(format!("{}\r\n", credentials::sasl_login(password)).as_bytes());
    let quoted = password.replace('\\', "\\\\").replace('"', "\\\"");
    for echo in [
        password.to_string(),
        quoted.clone(),
        STANDARD.encode(password),
    ] {
        t.server(format!("a1 NO \"{echo}\" is wrong\r\n").as_bytes());
        let escaped = escape_bytes(echo.as_bytes())
            .replace('\r', "\\r")
            .replace('\n', "\\n");
        t.note(format!("the server sent \"{escaped}\" and {echo:?}"));
    }
    let detail = format!(
        "line 3: expected `a1 OK`; the server answered `a1 NO {password}` ({}) {password:?} \"{quoted}\"",
        escape_bytes(password.as_bytes())
    );
    result_of(
        &meta(),
        Verdict::new(Outcome::Fail, detail),
        Instant::now(),
        t,
    )
}

fn password() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec!['\\', '"', '{', '}', '%', '+', '/', '=', '\'']);
    let text = "[a-zA-Z0-9 !#$&()*,.:;<>?@^_`|~\\[\\]\\\\\"{}%+/='äöüßé€😀]{7,15}";
    (special, text, any::<prop::sample::Index>()).prop_map(|(special, text, at)| {
        let chars: Vec<char> = text.chars().collect();
        let at = at.index(chars.len() + 1);
        chars[..at]
            .iter()
            .chain(std::iter::once(&special))
            .chain(&chars[at..])
            .collect()
    })
}

proptest! {
    #[test]
    fn no_output_shows_the_password_in_any_encoding(password in password()) {
        let report = report_of(vec![hostile_result(&password)], "imap");
        assert_nothing_leaks(&report, &password)?;
    }

    #[test]
    fn no_error_message_shows_the_password(password in password()) {
        let shapes = forbidden(&password);
        let encoded: String =
            percent_encoding::utf8_percent_encode(&password, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let mut messages = Vec::new();
        for url in [
            format!("imapx://{USER}:{encoded}@127.0.0.1"),
            format!("imap://{USER}:{encoded}@127.0.0.1/path"),
            format!("imap://{USER}:{password}@127.0.0.1:99999"),
            format!("imap://{USER}:{password}@[::1"),
        ] {
            if let Err(e) = TargetSpec::parse(&url) {
                messages.push(e.to_string());
            }
        }
        let credentials = Credentials { user: USER.into(), password: format!("{password}\r\n") };
        messages.push(format!("{credentials:?}"));
        messages.push(credentials::pop3_pass(&credentials.password).unwrap_err().to_string());
        messages.push(credentials::imap_login("a1", USER, &format!("{password}\0")).unwrap_err().to_string());
        let ctx = CheckContext::new(Endpoint {
            scheme: Scheme::Imap,
            host: "127.0.0.1".into(),
            port: 1,
            credentials: Some(credentials),
        });
        messages.push(format!("{ctx:?}"));
        messages.push(format!("{:?}", ctx.new_transcript()));
        for message in &messages {
            for shape in &shapes {
                prop_assert!(!message.contains(shape.as_str()), "{message} shows {shape:?}");
            }
        }
    }
}

/// The reference server with this password and these flaws; its IMAP, POP3
/// and submission endpoints carry the credentials.
async fn server_with(password: &str, flaws: Flaws) -> (RunningServer, Vec<Endpoint>) {
    let server = RunningServer::start(ServerConfig {
        flaws,
        password: password.into(),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let endpoints = [Scheme::Imap, Scheme::Pop3, Scheme::Submission]
        .into_iter()
        .map(|scheme| {
            let addr = server.endpoint(scheme.name()).unwrap();
            Endpoint {
                scheme,
                host: addr.ip().to_string(),
                port: addr.port(),
                credentials: Some(Credentials {
                    user: USER.into(),
                    password: password.into(),
                }),
            }
        })
        .collect();
    (server, endpoints)
}

fn context(endpoint: &Endpoint) -> CheckContext {
    CheckContext {
        session: SessionOptions {
            timeout: Duration::from_secs(5),
            ..SessionOptions::default()
        },
        ..CheckContext::new(endpoint.clone())
    }
}

async fn run(id: &str, ctx: &CheckContext) -> CheckResult {
    let catalogue = Catalogue::builtin().unwrap();
    let check = catalogue
        .checks()
        .iter()
        .find(|c| c.meta().id == id)
        .unwrap_or_else(|| panic!("no check {id}"));
    check.run(ctx).await
}

/// Passwords a LOGIN quotes (`"` and `\` escaped) and one it must send as a
/// literal (non-ASCII).
const PASSWORDS: [&str; 2] = [r#"Zq9\Hunter"2"#, r#"pä{ss}%2B/=wörd'"\"#];

#[tokio::test]
async fn tls_required_fails_on_a_server_that_accepts_a_cleartext_login_with_quotes_and_backslashes()
{
    let evidence = regex::Regex::new(r"answered `[a-z0-9]{4}1 OK").unwrap();
    for password in PASSWORDS {
        let (server, endpoints) = server_with(password, Flaws::from(Flaw::PlaintextAuth)).await;
        let imap = context(&endpoints[0]);
        let result = run("imap.tls.required", &imap).await;
        assert_eq!(
            result.status,
            Outcome::Fail,
            "{password}: {}",
            result.detail
        );
        // The evidence: the server's OK to the LOGIN, quoted in the detail.
        assert!(evidence.is_match(&result.detail), "{}", result.detail);
        let transcript = render(&result.transcript, false);
        assert!(transcript.contains("LOGIN \"mailtls\" "), "{transcript}");
        assert!(
            !transcript.contains("Hunter") && !transcript.contains("wörd"),
            "{transcript}"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn a_literal_password_waits_for_the_continuation_request() {
    let (server, endpoints) = server_with(PASSWORDS[1], Flaws::from(Flaw::PlaintextAuth)).await;
    let result = run("imap.tls.required", &context(&endpoints[0])).await;
    let transcript = render(&result.transcript, false);
    let marker = transcript.find("LOGIN \"mailtls\" {").expect("a literal");
    let go_ahead = transcript[marker..].find("S: + ").expect("the server's +");
    let literal = transcript[marker..]
        .find("C: <redacted>\\r\\n")
        .expect("the literal");
    assert!(go_ahead < literal, "{transcript}");
    let tags = regex::Regex::new(r"\b[a-z][a-z0-9]{3}(\d) ").unwrap();
    let ports = regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap();
    let stable = ports.replace_all(&transcript, "127.0.0.1:PORT");
    insta::assert_snapshot!(tags.replace_all(&stable, "TAG$1 "));
    server.shutdown().await;
}

#[tokio::test]
async fn every_report_of_a_real_run_hides_the_password() {
    for password in PASSWORDS {
        let (server, endpoints) = server_with(password, Flaws::from(Flaw::PlaintextAuth)).await;
        let mut targets = Vec::new();
        for (endpoint, ids) in endpoints.iter().zip([
            &[
                "imap.tls.required",
                "imap.starttls.no-session-fixation",
                "imap.auth.plaintext-rejected-before-tls",
            ][..],
            &[
                "pop3.tls.required",
                "pop3.starttls.no-session-fixation",
                "pop3.auth.plaintext-rejected-before-tls",
            ],
            &["smtp.auth.plaintext-rejected-before-tls"],
        ]) {
            let ctx = context(endpoint);
            let mut results = Vec::new();
            for id in ids {
                results.push(run(id, &ctx).await);
            }
            targets.push(TargetReport {
                target: endpoint.url(),
                protocol: endpoint.protocol().name().into(),
                policy: Policy::Mailbox,
                reachable: true,
                results,
            });
        }
        let report = Report::new("2026-12-02T00:00:00Z".into(), 1, targets);
        for id in [
            "imap.tls.required",
            "pop3.tls.required",
            "imap.auth.plaintext-rejected-before-tls",
        ] {
            let result = report
                .targets
                .iter()
                .flat_map(|t| &t.results)
                .find(|r| r.id == id)
                .unwrap();
            assert_eq!(result.status, Outcome::Fail, "{id}: {}", result.detail);
        }
        assert_nothing_leaks(&report, password).unwrap();
        server.shutdown().await;
    }
}

/// A peer that answers a LOGIN's literal marker with a refusal instead of `+`:
/// that is the command's answer, and the literal is never sent.
#[tokio::test]
async fn a_refusal_in_place_of_the_continuation_is_the_logins_answer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        tcp.write_all(b"* OK fake IMAP\r\n").await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut answered = false;
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if !answered && got.ends_with(b"}\r\n") {
                answered = true;
                let tag = got.split(|&b| b == b' ').next().unwrap().to_vec();
                let mut reply = tag;
                reply.extend_from_slice(b" NO [PRIVACYREQUIRED] not before TLS\r\n");
                tcp.write_all(&reply).await.unwrap();
            }
        }
        got
    });
    let ctx = context(&Endpoint {
        scheme: Scheme::Imap,
        host: "127.0.0.1".into(),
        port,
        credentials: Some(Credentials {
            user: USER.into(),
            password: PASSWORDS[1].into(),
        }),
    });
    let result = run("imap.tls.required", &ctx).await;
    assert_eq!(result.status, Outcome::Pass, "{}", result.detail);
    drop(ctx);
    let got = String::from_utf8_lossy(&peer.await.unwrap()).into_owned();
    assert!(!got.contains("wörd"), "the literal was sent: {got}");
    assert!(got.contains("2 LOGOUT"), "{got}");
}

/// The issue's own report: `mailtls run -v` with the password from
/// `MAILTLS_PASSWORD`, then from the URL's userinfo (percent-encoded), writes no
/// form of it into any report file, stdout or stderr.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_writes_the_password_nowhere() {
    let password = PASSWORDS[0];
    let (server, endpoints) = server_with(password, Flaws::from(Flaw::PlaintextAuth)).await;
    let encoded =
        percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let (imap, pop3) = (endpoints[0].url(), endpoints[1].url());
    let in_url = |url: &str| url.replacen("://", &format!("://{USER}:{encoded}@"), 1);
    for (targets, env) in [
        (vec![imap.clone(), pop3.clone()], true),
        (vec![in_url(&imap), in_url(&pop3)], false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mailtls"));
        command
            .arg("run")
            .args(&targets)
            .args(["--only", "*.tls.required", "--only", "*.auth.*", "-v"])
            .args(["--format", "json,junit,sarif,html,md", "--report-dir"])
            .arg(dir.path());
        if env {
            command
                .args(["--user", USER])
                .env("MAILTLS_PASSWORD", password);
        } else {
            command.env_remove("MAILTLS_PASSWORD");
        }
        let out = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains("imap.tls.required"), "{stdout}");
        let mut outputs = vec![
            ("stdout".to_string(), stdout),
            (
                "stderr".to_string(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ),
        ];
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            outputs.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
        assert!(
            outputs.len() >= 7,
            "{:?}",
            outputs.iter().map(|o| &o.0).collect::<Vec<_>>()
        );
        for (name, text) in &outputs {
            for shape in forbidden(password) {
                assert!(
                    !text.contains(&shape),
                    "{name} shows the password as {shape:?}"
                );
            }
        }
    }
    server.shutdown().await;
}

/// A password with CR and LF: IMAP carries it in a literal, POP3's PASS cannot
/// carry it, so its scripts and its native check say so (`error`) without
/// sending it, and nothing shows it.
#[tokio::test]
async fn a_password_with_a_line_break_goes_in_a_literal_or_not_at_all() {
    let password = "line\r\nbreak\"\\pw";
    let (server, endpoints) = server_with(password, Flaws::from(Flaw::PlaintextAuth)).await;
    let imap = run("imap.tls.required", &context(&endpoints[0])).await;
    assert_eq!(imap.status, Outcome::Fail, "{}", imap.detail);
    let pop3 = context(&endpoints[1]);
    let mut results = vec![imap];
    for id in [
        "pop3.tls.required",
        "pop3.auth.plaintext-rejected-before-tls",
    ] {
        let result = run(id, &pop3).await;
        assert_eq!(result.status, Outcome::Error, "{id}: {}", result.detail);
        assert!(
            result
                .detail
                .contains("the password contains a CR or LF, which"),
            "{}",
            result.detail
        );
        let transcript = render(&result.transcript, false);
        assert!(!transcript.contains("PASS"), "{transcript}");
        results.push(result);
    }
    assert_nothing_leaks(&report_of(results, "imap"), password).unwrap();
    server.shutdown().await;
}
