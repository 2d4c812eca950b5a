//! Client profiles: how to point a real mail client at the malicious server, which
//! credentials it uses and how it is told to trust the run's test CA. Arguments
//! may use `${url}`, `${host}`, `${port}`, `${user}`, `${password}`, `${cafile}`
//! and `${workdir}`; files are written into the work directory (mode 0600) first.

use crate::target::Protocol;

/// The user every profile logs in as.
pub const USER: &str = "mailtls";
/// The password every profile uses; redacted from transcripts like any other.
pub const PASSWORD: &str = "client-secret-3141";

/// How to run one client against one protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Stable name, e.g. `curl-smtp`.
    pub name: String,
    /// The protocol it speaks.
    pub protocol: Protocol,
    /// One line: which client, configured how.
    pub description: String,
    /// The command line, with variables.
    pub argv: Vec<String>,
    /// Files to write into the work directory: (name, contents with variables).
    pub files: Vec<(String, String)>,
    /// What to feed on standard input (a message to send).
    pub stdin: Option<String>,
}

/// A small message for the clients that send one.
const MESSAGE: &str =
    "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: mailtls\r\n\r\nhello\r\n";

/// Python's standard library clients, one program per protocol; the mode says how
/// careful the client is: `strict` (STARTTLS required, certificate verified against
/// the test CA), `opportunistic` (STARTTLS only when offered) or `noverify`
/// (STARTTLS required, any certificate accepted).
const PYTHON_SMTP: &str = r#"import smtplib, ssl, sys
host, port, ca, user, pw, mode = sys.argv[1:7]
ctx = ssl._create_unverified_context() if mode == "noverify" else ssl.create_default_context(cafile=ca)
s = smtplib.SMTP(host, int(port), timeout=5)
s.ehlo()
if mode != "opportunistic" or s.has_extn("starttls"):
    s.starttls(context=ctx)
    s.ehlo()
s.login(user, pw)
s.sendmail("alice@example.org", ["bob@example.org"], "Subject: mailtls\r\n\r\nhello\r\n")
s.quit()
"#;

const PYTHON_IMAP: &str = r#"import imaplib, ssl, sys
host, port, ca, user, pw, mode = sys.argv[1:7]
ctx = ssl._create_unverified_context() if mode == "noverify" else ssl.create_default_context(cafile=ca)
m = imaplib.IMAP4(host, int(port), timeout=5)
if mode != "opportunistic" or "STARTTLS" in m.capabilities:
    m.starttls(ssl_context=ctx)
if m.state != "AUTH":
    m.login(user, pw)
m.select("INBOX")
m.logout()
"#;

const PYTHON_POP3: &str = r#"import poplib, ssl, sys
host, port, ca, user, pw, mode = sys.argv[1:7]
ctx = ssl._create_unverified_context() if mode == "noverify" else ssl.create_default_context(cafile=ca)
p = poplib.POP3(host, int(port), timeout=5)
try:
    capa = p.capa()
except poplib.error_proto:
    capa = {}
if mode != "opportunistic" or "STLS" in capa:
    p.stls(context=ctx)
p.user(user)
p.pass_(pw)
p.stat()
p.quit()
"#;

/// Debian's interpreter when it is there (a version manager's shim in PATH can
/// take longer to start than the whole scenario), else whatever `python3` is.
fn python3() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn profile(name: &str, protocol: Protocol, description: &str, argv: &[&str]) -> Profile {
    Profile {
        name: name.into(),
        protocol,
        description: description.into(),
        argv: strings(argv),
        files: Vec::new(),
        stdin: None,
    }
}

fn python(protocol: Protocol, mode: &str) -> Profile {
    let (module, program) = match protocol {
        Protocol::Smtp => ("smtplib", PYTHON_SMTP),
        Protocol::Imap => ("imaplib", PYTHON_IMAP),
        Protocol::Pop3 => ("poplib", PYTHON_POP3),
    };
    let (suffix, description) = match mode {
        "strict" => (
            "",
            "STARTTLS required, certificate checked against the test CA",
        ),
        "opportunistic" => (
            "-opportunistic",
            "deliberately careless: STARTTLS only when offered",
        ),
        _ => (
            "-noverify",
            "deliberately careless: STARTTLS required, any certificate accepted",
        ),
    };
    profile(
        &format!("python-{module}{suffix}"),
        protocol,
        &format!("Python {module}: {description}"),
        &[
            python3(),
            "-c",
            program,
            "${host}",
            "${port}",
            "${cafile}",
            "${user}",
            "${password}",
            mode,
        ],
    )
}

/// Every bundled profile, in matrix order.
pub fn builtin() -> Vec<Profile> {
    let mut profiles = Vec::new();
    for (protocol, scheme) in [
        (Protocol::Smtp, "smtp"),
        (Protocol::Imap, "imap"),
        (Protocol::Pop3, "pop3"),
    ] {
        let mut argv = vec![
            "curl",
            "--silent",
            "--show-error",
            "--max-time",
            "8",
            "--ssl-reqd",
            "--cacert",
            "${cafile}",
            "--user",
            "${user}:${password}",
        ];
        let url = match protocol {
            Protocol::Smtp => "smtp://${host}:${port}",
            Protocol::Imap => "imap://${host}:${port}/INBOX",
            Protocol::Pop3 => "pop3://${host}:${port}/1",
        };
        argv.push(url);
        let mut curl = profile(
            &format!("curl-{scheme}"),
            protocol,
            "curl --ssl-reqd --cacert (STARTTLS required)",
            &argv,
        );
        if protocol == Protocol::Smtp {
            curl.argv.extend(strings(&[
                "--mail-from",
                "alice@example.org",
                "--mail-rcpt",
                "bob@example.org",
                "--upload-file",
                "-",
            ]));
            curl.stdin = Some(MESSAGE.into());
        }
        profiles.push(curl);
        for mode in ["strict", "opportunistic", "noverify"] {
            profiles.push(python(protocol, mode));
        }
        match protocol {
            Protocol::Smtp => {
                let mut msmtp = profile(
                    "msmtp",
                    protocol,
                    "msmtp tls on, tls_starttls on, tls_trust_file = the test CA",
                    &[
                        "msmtp",
                        "--file=${workdir}/msmtprc",
                        "--account=test",
                        "bob@example.org",
                    ],
                );
                msmtp.files.push(("msmtprc".into(), "account test\nhost ${host}\nport ${port}\nfrom alice@example.org\ntls on\ntls_starttls on\ntls_trust_file ${cafile}\nauth on\nuser ${user}\npassword ${password}\ntimeout 8\n".into()));
                msmtp.stdin = Some(MESSAGE.into());
                profiles.push(msmtp);
                let mut snail = profile(
                    "s-nail",
                    protocol,
                    "s-nail smtp-use-starttls, tls-ca-file = the test CA (dials localhost: it matches no IP address in certificates)",
                    &["s-nail", "-:/", "-Sv15-compat", "-Sttycharset=utf-8", "-Smta=smtp://${user}:${password}@localhost:${port}", "-Ssmtp-use-starttls", "-Stls-ca-file=${cafile}", "-Stls-ca-no-defaults", "-Stls-verify=strict", "-Sfrom=alice@example.org", "-s", "mailtls", "bob@example.org"],
                );
                snail.stdin = Some("hello\n".into());
                profiles.push(snail);
            }
            Protocol::Imap | Protocol::Pop3 => {
                let mut fetchmail = profile(
                    &format!("fetchmail-{scheme}"),
                    protocol,
                    "fetchmail sslproto tls1.2+ (STARTTLS required), sslcertck, sslcertfile = the test CA",
                    &["fetchmail", "--nosyslog", "--nodetach", "--fetchmailrc", "${workdir}/fetchmailrc", "--pidfile", "${workdir}/fetchmail.pid", "--idfile", "${workdir}/fetchids"],
                );
                fetchmail.files.push(("fetchmailrc".into(), format!("poll ${{host}} service ${{port}} protocol {scheme} timeout 8\n  user \"${{user}}\" password \"${{password}}\" sslproto tls1.2+ sslcertck sslcertfile \"${{cafile}}\" mda \"cat >/dev/null\"\n")));
                profiles.push(fetchmail);
            }
        }
    }
    profiles
}

/// Expands the profile variables in `text`.
pub fn expand(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    out
}
