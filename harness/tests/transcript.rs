//! What a person reads of a session: the transcript of a check, with the TLS
//! upgrade noted, every byte shown, and secrets redacted.

use mailtls::checks::{Catalogue, CheckContext};
use mailtls::report::model::Outcome;
use mailtls::scenario;
use mailtls::server::{Flaw, Flaws};
use mailtls::session::transcript::render;
use mailtls::target::embedded::EmbeddedTarget;
use mailtls::target::Credentials;

fn context(
    target: &EmbeddedTarget,
    protocol: &str,
    credentials: Option<Credentials>,
) -> CheckContext {
    let endpoint = target
        .endpoints
        .iter()
        .find(|e| e.protocol().name() == protocol)
        .expect("endpoint")
        .clone();
    CheckContext {
        credentials,
        ..CheckContext::new(endpoint)
    }
}

fn stable(text: &str) -> String {
    regex::Regex::new(r"127\.0\.0\.1:\d+")
        .unwrap()
        .replace_all(text, "127.0.0.1:PORT")
        .into_owned()
}

#[tokio::test]
async fn injection_transcript_shows_the_segment_the_upgrade_and_the_answer() {
    let target = EmbeddedTarget::start(Flaws::from(Flaw::StarttlsInjection).into())
        .await
        .unwrap();
    let catalogue = Catalogue::builtin().unwrap();
    let check = catalogue
        .checks()
        .iter()
        .find(|c| c.meta().id == "smtp.starttls.injection")
        .unwrap();
    let result = check.run(&context(&target, "smtp", None)).await;
    assert_eq!(result.status, Outcome::Fail);
    insta::assert_snapshot!(stable(&render(&result.transcript, false)));
}

#[tokio::test]
async fn credentials_never_reach_the_transcript() {
    let target = EmbeddedTarget::start(Flaws::default().into())
        .await
        .unwrap();
    let script = scenario::parse(
        "login.mts",
        "id: pop3.custom.login\ntitle: t\nprotocol: pop3\nseverity: info\nneeds: starttls, credentials\n\
         S: +OK\nC: STLS\nS: +OK\nTLS\nC: USER ${user}\nS: +OK\nC: PASS ${password}\nS: +OK else fail if -ERR \"login refused\"\n",
    )
    .unwrap();
    let credentials = Credentials {
        user: "mailtls".into(),
        password: "mailtls-secret".into(),
    };
    let ctx = context(&target, "pop3", Some(credentials));
    let (verdict, transcript) = scenario::run::run(&script, &ctx, ctx.new_transcript()).await;
    assert_eq!(verdict.outcome, Outcome::Pass, "{}", verdict.detail);
    let text = render(transcript.entries(), false);
    assert!(!text.contains("mailtls-secret"), "{text}");
    assert!(text.contains("C: PASS <redacted>\\r\\n"), "{text}");
}
