//! The defensive behaviours, each shown by a raw client, and their names and sets.
//!
//! Durations are only bounded from below: a loaded machine may be slow, never fast.

use std::time::{Duration, Instant};

use tokio::time::timeout;

use super::{Client, WAIT};
use crate::server::{Behaviour, Behaviours, RunningServer, ServerConfig};

const GREETING: &str = "220 mail.mailtls.test ESMTP mailtls reference server";
const RCPT: &str = "mailtls@mail.mailtls.test";

/// Starts a server with the given flaws and behaviours.
async fn server(flaws: &str, behaviours: &str) -> RunningServer {
    let config = ServerConfig {
        flaws: flaws.parse().expect("valid flaw list"),
        behaviours: behaviours.parse().expect("valid behaviour list"),
        ..ServerConfig::default()
    };
    RunningServer::start(config).await.expect("server starts")
}

/// Connects to `scheme` and returns the one line the server sends before it
/// closes the connection; fails if it then keeps the connection open.
async fn refusal(server: &RunningServer, scheme: &str) -> String {
    let mut client = Client::connect(server, scheme).await;
    let line = client.line().await;
    assert!(client.closed().await, "{scheme}: still open after {line:?}");
    line
}

/// Connects in plaintext SMTP, reads the greeting and sends EHLO.
async fn smtp_ehlo(server: &RunningServer) -> Client {
    let mut client = Client::connect(server, "smtp").await;
    assert_eq!(client.line().await, GREETING);
    client.send("EHLO client.test\r\n").await;
    client.smtp().await;
    client
}

#[test]
fn behaviour_names_round_trip() {
    let names: Vec<&str> = Behaviour::ALL.iter().map(|b| b.name()).collect();
    assert_eq!(
        names,
        [
            "small-backlog",
            "conn-cap",
            "busy",
            "tarpit",
            "greylist",
            "drop-read-ahead"
        ]
    );
    for behaviour in Behaviour::ALL {
        assert_eq!(behaviour.name().parse::<Behaviour>(), Ok(behaviour));
        assert_eq!(behaviour.to_string(), behaviour.name());
        let description = behaviour.description();
        assert!(!description.is_empty() && !description.contains('\n'));
    }
}

#[test]
fn unknown_behaviour_lists_valid_names() {
    let err = "patience".parse::<Behaviour>().expect_err("unknown");
    let text = err.to_string();
    assert!(text.contains("unknown behaviour `patience`"), "{text}");
    for behaviour in Behaviour::ALL {
        assert!(text.contains(behaviour.name()), "{text}");
    }
    assert!("tarpit,bogus".parse::<Behaviours>().is_err());
    assert!("tarpit,,busy".parse::<Behaviours>().is_err());
}

#[test]
fn behaviour_sets() {
    let none: Behaviours = " ".parse().expect("blank");
    assert!(none.is_empty());
    assert_eq!(none, Behaviours::default());
    assert_eq!(none.to_string(), "");

    let set: Behaviours = "greylist, Tarpit,greylist".parse().expect("valid");
    assert!(set.contains(Behaviour::Tarpit) && set.contains(Behaviour::Greylist));
    assert!(!set.contains(Behaviour::Busy));
    assert_eq!(set.to_string(), "tarpit,greylist");
    assert_eq!(set.to_string().parse::<Behaviours>(), Ok(set));
    assert_eq!(
        Behaviour::ALL
            .into_iter()
            .collect::<Behaviours>()
            .iter()
            .count(),
        Behaviour::ALL.len()
    );
}

#[tokio::test]
async fn small_backlog_still_serves_a_burst_eventually() {
    let server = server("", "small-backlog").await;
    let addr = server.endpoint("smtp").expect("smtp");
    let started = Instant::now();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move {
                let mut client = Client::connect_addr(addr).await;
                assert_eq!(client.line().await, GREETING);
                assert_eq!(client.smtp_cmd("QUIT").await, "221 2.0.0 Bye");
            })
        })
        .collect();
    // Connects the backlog turned away are retried by the kernel after a
    // second or more; 30 s leaves room for a few such rounds.
    let all = async {
        for client in clients {
            client.await.expect("client succeeded");
        }
    };
    timeout(Duration::from_secs(30), all)
        .await
        .expect("every client served");
    // Eight accepts with a 100 ms rest after each of the first seven.
    assert!(started.elapsed() >= Duration::from_millis(700));
}

#[tokio::test]
async fn conn_cap_refuses_a_third_session_per_address_and_listener() {
    let server = server("", "conn-cap").await;
    let mut first = Client::connect(&server, "smtp").await;
    assert_eq!(first.line().await, GREETING);
    let mut second = Client::connect(&server, "smtp").await;
    assert_eq!(second.line().await, GREETING);
    assert_eq!(
        refusal(&server, "smtp").await,
        "421 4.7.0 mail.mailtls.test Error: too many connections from your address"
    );

    // Each listener counts its own sessions.
    let mut submission = Client::connect(&server, "submission").await;
    assert_eq!(submission.line().await, GREETING);

    // The refusal goes inside TLS on an implicit-TLS listener.
    let mut pop3s = Vec::new();
    for _ in 0..2 {
        let mut client = Client::connect(&server, "pop3s").await;
        assert!(client.line().await.starts_with("+OK"));
        pop3s.push(client);
    }
    assert_eq!(
        refusal(&server, "pop3s").await,
        "-ERR [IN-USE] Too many connections from your IP"
    );
    let mut imap = Vec::new();
    for _ in 0..2 {
        let mut client = Client::connect(&server, "imap").await;
        assert!(client.line().await.starts_with("* OK"));
        imap.push(client);
    }
    assert_eq!(
        refusal(&server, "imap").await,
        "* BYE Too many connections from your IP"
    );

    // A session that ends gives its slot back (the server may take a moment
    // to notice, so a refusal or two on the way is fine).
    assert_eq!(first.smtp_cmd("QUIT").await, "221 2.0.0 Bye");
    assert!(first.closed().await);
    let served = async {
        loop {
            let mut client = Client::connect(&server, "smtp").await;
            if client.line().await == GREETING {
                return client;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let mut third = timeout(WAIT, served).await.expect("slot freed");
    assert_eq!(third.smtp_cmd("NOOP").await, "250 2.0.0 Ok");
    assert_eq!(second.smtp_cmd("NOOP").await, "250 2.0.0 Ok");
}

#[tokio::test]
async fn busy_refuses_connection_one_of_four_and_smtp_cuts_off_three() {
    let server = server("", "busy").await;
    // Connection 0 is served.
    let mut zero = smtp_ehlo(&server).await;
    assert_eq!(zero.smtp_cmd("NOOP").await, "250 2.0.0 Ok");
    // Connection 1 is refused at the greeting.
    assert_eq!(
        refusal(&server, "smtp").await,
        "421 4.3.2 Service busy, try again later"
    );
    // Connection 2 is served.
    let mut two = smtp_ehlo(&server).await;
    assert_eq!(two.smtp_cmd("NOOP").await, "250 2.0.0 Ok");
    // Connection 3 is greeted, answers EHLO, and is cut off at its second command.
    let mut three = smtp_ehlo(&server).await;
    assert_eq!(
        three.smtp_cmd("NOOP").await,
        "421 4.3.2 Service busy, closing transmission channel"
    );
    assert!(three.closed().await);
    // And the cycle repeats: 4 is served, 5 refused.
    let mut four = smtp_ehlo(&server).await;
    assert_eq!(four.smtp_cmd("NOOP").await, "250 2.0.0 Ok");
    assert!(refusal(&server, "smtp").await.starts_with("421 4.3.2"));

    // Every listener numbers its own connections; POP3 and IMAP only refuse.
    for (scheme, greeting, text) in [
        (
            "pop3",
            "+OK",
            "-ERR [SYS/TEMP] Server busy, try again later",
        ),
        ("imaps", "* OK", "* BYE Server busy, try again later"),
    ] {
        let mut zero = Client::connect(&server, scheme).await;
        assert!(zero.line().await.starts_with(greeting));
        assert_eq!(refusal(&server, scheme).await, text);
    }
    let mut pop3 = Vec::new();
    for _ in 2..4 {
        let mut client = Client::connect(&server, "pop3").await;
        assert!(client.line().await.starts_with("+OK"));
        pop3.push(client);
    }
    let three = pop3.last_mut().expect("connection 3");
    for _ in 0..3 {
        three.send("NOOP\r\n").await;
        assert_eq!(three.line().await, "+OK");
    }
}

#[tokio::test]
async fn tarpit_delays_the_greeting_and_every_answer() {
    let server = server("", "tarpit").await;
    let started = Instant::now();
    let mut client = Client::connect(&server, "smtp").await;
    assert_eq!(client.line().await, GREETING);
    assert!(started.elapsed() >= Duration::from_millis(600));

    // Three pipelined commands, three answers, each delayed.
    let started = Instant::now();
    client.send("NOOP\r\nNOOP\r\nNOOP\r\n").await;
    for _ in 0..3 {
        assert_eq!(client.smtp().await, ["250 2.0.0 Ok"]);
    }
    assert!(started.elapsed() >= Duration::from_millis(150));

    // IMAP too, here over implicit TLS.
    let started = Instant::now();
    let mut imap = Client::connect(&server, "imaps").await;
    assert!(imap.line().await.starts_with("* OK"));
    assert!(started.elapsed() >= Duration::from_millis(600));
    let started = Instant::now();
    let lines = imap.imap_cmd("a", "CAPABILITY").await;
    assert_eq!(lines.len(), 2);
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[tokio::test]
async fn greylist_defers_a_new_triplet_for_a_second() {
    let server = server("", "greylist").await;
    let mut client = smtp_ehlo(&server).await;
    assert_eq!(
        client.smtp_cmd("MAIL FROM:<a@b.test>").await,
        "250 2.1.0 Ok"
    );
    let deferred = format!(
        "450 4.2.0 <{RCPT}>: Recipient address rejected: Greylisted, try again in 1 second"
    );
    assert_eq!(
        client.smtp_cmd(&format!("RCPT TO:<{RCPT}>")).await,
        deferred
    );
    // The server saw the triplet before its answer arrived here.
    let first_seen = Instant::now();
    assert_eq!(
        client.smtp_cmd(&format!("RCPT TO:<{RCPT}>")).await,
        deferred
    );
    // The deferred recipient was not taken.
    assert_eq!(
        client.smtp_cmd("DATA").await,
        "503 5.5.1 Error: need RCPT command"
    );
    // Unknown users are refused outright, not greylisted.
    assert!(client
        .smtp_cmd("RCPT TO:<nobody@mail.mailtls.test>")
        .await
        .starts_with("550 5.1.1"));

    tokio::time::sleep_until((first_seen + Duration::from_millis(1050)).into()).await;
    assert_eq!(
        client.smtp_cmd(&format!("RCPT TO:<{RCPT}>")).await,
        "250 2.1.5 Ok"
    );
    // Another recipient, or another sender, is a new triplet.
    assert!(client
        .smtp_cmd("RCPT TO:<postmaster@mail.mailtls.test>")
        .await
        .starts_with("450 4.2.0 <postmaster@mail.mailtls.test>"));
    assert_eq!(client.smtp_cmd("RSET").await, "250 2.0.0 Ok");
    assert_eq!(client.smtp_cmd("MAIL FROM:<>").await, "250 2.1.0 Ok");
    assert!(client
        .smtp_cmd(&format!("RCPT TO:<{RCPT}>"))
        .await
        .starts_with("450 4.2.0"));
}

/// Opens a transaction up to the 354 go-ahead for DATA.
async fn up_to_data(server: &RunningServer) -> Client {
    let mut client = smtp_ehlo(server).await;
    assert_eq!(
        client.smtp_cmd("MAIL FROM:<a@b.test>").await,
        "250 2.1.0 Ok"
    );
    assert_eq!(
        client.smtp_cmd(&format!("RCPT TO:<{RCPT}>")).await,
        "250 2.1.5 Ok"
    );
    assert!(client.smtp_cmd("DATA").await.starts_with("354"));
    client
}

#[tokio::test]
async fn drop_read_ahead_loses_commands_pipelined_after_a_bare_lf_end() {
    const SMUGGLED: &str = "Subject: x\r\n\r\nbody\n.\nMAIL FROM:<>\r\n";
    // Without the behaviour the smuggling server runs the pipelined MAIL...
    let plain = server("bare-lf-data", "").await;
    let mut client = up_to_data(&plain).await;
    client.send(SMUGGLED).await;
    assert_eq!(client.smtp().await, ["250 2.0.0 Ok: queued"]);
    assert_eq!(client.smtp().await, ["250 2.1.0 Ok"]);

    // ...with it, the MAIL is lost with the rest of the read-ahead.
    let dropping = server("bare-lf-data", "drop-read-ahead").await;
    let mut client = up_to_data(&dropping).await;
    client.send(SMUGGLED).await;
    assert_eq!(client.smtp().await, ["250 2.0.0 Ok: queued"]);
    client.expect_silence().await;
    // The session itself goes on, with no transaction open.
    assert_eq!(
        client.smtp_cmd("RCPT TO:<postmaster>").await,
        "503 5.5.1 Error: need MAIL command"
    );
}

#[tokio::test]
async fn drop_read_ahead_keeps_commands_after_a_standard_end() {
    for flaws in ["", "bare-lf-data"] {
        let server = server(flaws, "drop-read-ahead").await;
        let mut client = up_to_data(&server).await;
        client
            .send("Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<>\r\n")
            .await;
        assert_eq!(client.smtp().await, ["250 2.0.0 Ok: queued"], "{flaws}");
        assert_eq!(client.smtp().await, ["250 2.1.0 Ok"], "{flaws}");
    }
}

#[tokio::test]
async fn behaviours_combine_with_each_other_and_with_flaws() {
    let all = Behaviour::ALL.map(Behaviour::name).join(",");
    let server = server("plaintext-auth", &all).await;
    // Connection 0: slow, but served, with the flaw's AUTH offered in cleartext
    // and the recipient greylisted.
    let mut client = Client::connect(&server, "smtp").await;
    assert_eq!(client.line().await, GREETING);
    client.send("EHLO client.test\r\n").await;
    let ehlo = client.smtp().await;
    assert!(
        ehlo.iter().any(|l| l.ends_with("AUTH PLAIN LOGIN")),
        "{ehlo:?}"
    );
    assert_eq!(client.smtp_cmd("MAIL FROM:<>").await, "250 2.1.0 Ok");
    assert!(client
        .smtp_cmd(&format!("RCPT TO:<{RCPT}>"))
        .await
        .starts_with("450 4.2.0"));
    // Connection 1: busy, and that refusal holds no slot.
    assert!(refusal(&server, "smtp").await.starts_with("421 4.3.2"));
    // Connection 2 takes the second slot; connection 3 is over the cap.
    let mut two = Client::connect(&server, "smtp").await;
    assert_eq!(two.line().await, GREETING);
    assert!(refusal(&server, "smtp").await.starts_with("421 4.7.0"));
    assert_eq!(two.smtp_cmd("QUIT").await, "221 2.0.0 Bye");
}
