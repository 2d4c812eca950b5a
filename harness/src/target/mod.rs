//! Targets: what the user names on the command line (`smtp://host:port`,
//! `embedded:flaws=a,b:behaviours=x,y`), parsed into endpoints the checks
//! connect to.

pub mod container;
pub mod embedded;
pub mod policy;
pub mod scheme;

pub use embedded::EmbeddedSpec;
pub use policy::Policy;
pub use scheme::{Protocol, Scheme, TlsMode};

use crate::server::{UnknownBehaviour, UnknownFlaw};
use std::fmt;

/// A user name and password. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// One endpoint of a server: a scheme, a host and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Protocol and TLS mode.
    pub scheme: Scheme,
    /// Host name or IP literal (IPv6 in brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Credentials given in the URL's userinfo.
    pub credentials: Option<Credentials>,
}

impl Endpoint {
    /// The protocol spoken.
    pub fn protocol(&self) -> Protocol {
        self.scheme.protocol()
    }

    /// The URL without credentials: what reports show.
    pub fn url(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

/// A target as named by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A server at a URL.
    Endpoint(Endpoint),
    /// The built-in reference server, with these flaws and behaviours switched on.
    Embedded(EmbeddedSpec),
    /// Every standard mail port of one host (`host:NAME`).
    Host(String),
    /// A real server in a container (`container:NAME[:PROFILE]`).
    Container(container::ContainerSpec),
}

/// Why a target could not be understood. Every variant is a usage error (exit 2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// The text is not a URL at all.
    #[error("`{target}` is not a target URL: {reason}")]
    NotAUrl {
        /// What the user wrote (credentials removed).
        target: String,
        /// What the URL parser said.
        reason: String,
    },
    /// A URL with a scheme we don't test.
    #[error("`{target}`: unknown scheme `{scheme}` (expected one of smtp, submission, smtps, imap, imaps, pop3, pop3s, embedded)")]
    UnknownScheme {
        /// What the user wrote.
        target: String,
        /// The scheme found.
        scheme: String,
    },
    /// A URL without a host (`smtp://`).
    #[error("`{target}`: no host given (write e.g. {scheme}://mail.example.org)")]
    MissingHost {
        /// What the user wrote.
        target: String,
        /// The scheme found.
        scheme: String,
    },
    /// A URL with a path, query or fragment, which no mail target has.
    #[error("`{target}`: unexpected `{part}` after host and port")]
    Trailing {
        /// What the user wrote.
        target: String,
        /// The offending part.
        part: String,
    },
    /// `embedded:` with something other than `flaws=` and `behaviours=`.
    #[error("`{target}`: {reason}")]
    Embedded {
        /// What the user wrote.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// A flaw name the reference server does not know.
    #[error("`{target}`: {source}")]
    Flaw {
        /// What the user wrote.
        target: String,
        /// The unknown flaw.
        source: UnknownFlaw,
    },
    /// A behaviour name the reference server does not know.
    #[error("`{target}`: {source}")]
    Behaviour {
        /// What the user wrote.
        target: String,
        /// The unknown behaviour.
        source: UnknownBehaviour,
    },
    /// `host:` with something other than a bare host.
    #[error("`{target}`: {reason}")]
    Host {
        /// What the user wrote.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// `container:` with something other than a recipe name and a profile.
    #[error("`{target}`: {reason}")]
    Container {
        /// What the user wrote.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// A target kind this version cannot run yet.
    #[error("`{target}`: {kind} targets are not implemented yet")]
    NotImplemented {
        /// What the user wrote.
        target: String,
        /// `container`, `host`.
        kind: &'static str,
    },
}

impl TargetSpec {
    /// Parses one command-line target.
    pub fn parse(text: &str) -> Result<TargetSpec, TargetError> {
        if text == "embedded" {
            return Ok(TargetSpec::Embedded(EmbeddedSpec::default()));
        }
        if let Some(rest) = text.strip_prefix("embedded:") {
            return parse_embedded(text, rest).map(TargetSpec::Embedded);
        }
        if let Some(host) = text.strip_prefix("host:") {
            return parse_host(text, host).map(TargetSpec::Host);
        }
        if let Some(rest) = text.strip_prefix("container:") {
            return container::ContainerSpec::parse(rest)
                .map(TargetSpec::Container)
                .ok_or_else(|| TargetError::Container {
                    target: text.into(),
                    reason: "expected `container:NAME[:PROFILE]` (see `mailtls containers list`)"
                        .into(),
                });
        }
        parse_url(text).map(TargetSpec::Endpoint)
    }
}

/// `embedded:` followed by `flaws=LIST` and/or `behaviours=LIST`, in either
/// order, joined by `:`.
fn parse_embedded(text: &str, rest: &str) -> Result<EmbeddedSpec, TargetError> {
    let embedded = |reason: &str| TargetError::Embedded {
        target: text.into(),
        reason: reason.into(),
    };
    let mut spec = EmbeddedSpec::default();
    let (mut flaws_given, mut behaviours_given) = (false, false);
    for part in rest.split(':') {
        if let Some(list) = part.strip_prefix("flaws=") {
            if std::mem::replace(&mut flaws_given, true) {
                return Err(embedded("`flaws=` given twice"));
            }
            spec.flaws = list.parse().map_err(|source| TargetError::Flaw {
                target: text.into(),
                source,
            })?;
        } else if let Some(list) = part.strip_prefix("behaviours=") {
            if std::mem::replace(&mut behaviours_given, true) {
                return Err(embedded("`behaviours=` given twice"));
            }
            spec.behaviours = list.parse().map_err(|source| TargetError::Behaviour {
                target: text.into(),
                source,
            })?;
        } else {
            return Err(embedded(
                "expected `embedded`, optionally followed by `:flaws=NAME[,NAME...]` and/or `:behaviours=NAME[,NAME...]`",
            ));
        }
    }
    Ok(spec)
}

/// `host:NAME` takes a bare host name or IP literal: the ports are the standard ones.
fn parse_host(text: &str, host: &str) -> Result<String, TargetError> {
    let bracketed_v6 = host.starts_with('[') && host.ends_with(']');
    if host.contains(['@', '/']) || (host.contains(':') && !bracketed_v6) {
        return Err(TargetError::Host {
            target: text.into(),
            reason: "give only a host name or address; the ports are the standard ones".into(),
        });
    }
    parse_url(&format!("smtp://{host}"))
        .map(|endpoint| endpoint.host)
        .map_err(|_| TargetError::Host {
            target: text.into(),
            reason:
                "not a host name or address (write e.g. host:mail.example.org or host:127.0.0.1)"
                    .into(),
        })
}

fn parse_url(text: &str) -> Result<Endpoint, TargetError> {
    let shown = redact_userinfo(text);
    if unencoded_delimiter(text) {
        return Err(TargetError::NotAUrl {
            target: shown,
            reason: "the user name or password holds `/`, `?` or `#`, which end a URL's userinfo: percent-encode them (%2F, %3F, %23) or give the password with --password or MAILTLS_PASSWORD".into(),
        });
    }
    let url = url::Url::parse(text).map_err(|e| TargetError::NotAUrl {
        target: shown.clone(),
        reason: e.to_string(),
    })?;
    let scheme: Scheme = url
        .scheme()
        .parse()
        .map_err(|()| TargetError::UnknownScheme {
            target: shown.clone(),
            scheme: url.scheme().into(),
        })?;
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        _ => {
            return Err(TargetError::MissingHost {
                target: shown,
                scheme: scheme.to_string(),
            })
        }
    };
    let path = url.path();
    if !(path.is_empty() || path == "/") || url.query().is_some() || url.fragment().is_some() {
        let mut part = path.to_string();
        if let Some(q) = url.query() {
            part = format!("{part}?{q}");
        }
        return Err(TargetError::Trailing {
            target: shown,
            part,
        });
    }
    let credentials = if url.username().is_empty() {
        None
    } else {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        Some(Credentials {
            user: decode(url.username()),
            password: decode(url.password().unwrap_or("")),
        })
    };
    Ok(Endpoint {
        port: url.port().unwrap_or(scheme.default_port()),
        scheme,
        host,
        credentials,
    })
}

/// The target text with any password replaced, for error messages. The userinfo
/// ends at the *last* `@`, so a password holding `/`, `?`, `#` or `@` (which the
/// URL parser would cut short) is still hidden whole.
fn redact_userinfo(text: &str) -> String {
    match split_userinfo(text) {
        Some((scheme, userinfo, after)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:<redacted>{after}")
        }
        None => text.to_string(),
    }
}

/// `scheme`, the userinfo (up to the last `@`) and the rest from that `@`.
fn split_userinfo(text: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = text.split_once("://")?;
    let at = rest.rfind('@')?;
    Some((scheme, &rest[..at], &rest[at..]))
}

/// A password written into a URL with a character that ends the userinfo: the
/// URL parser would read part of it as host, port or path.
fn unencoded_delimiter(text: &str) -> bool {
    split_userinfo(text).is_some_and(|(_, userinfo, _)| userinfo.contains(['/', '?', '#']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{Behaviour, Behaviours, Flaw, Flaws};

    fn endpoint(text: &str) -> Endpoint {
        match TargetSpec::parse(text) {
            Ok(TargetSpec::Endpoint(e)) => e,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn can_parse_every_scheme_with_its_default_port() {
        for scheme in Scheme::ALL {
            let e = endpoint(&format!("{scheme}://mail.example.org"));
            assert_eq!(e.scheme, scheme);
            assert_eq!(e.port, scheme.default_port());
            assert_eq!(e.host, "mail.example.org");
        }
    }

    #[test]
    fn can_parse_ports_ipv6_and_credentials() {
        let e = endpoint("imap://alice:p%40ss@[::1]:1143/");
        assert_eq!(e.host, "[::1]");
        assert_eq!(e.port, 1143);
        let creds = e.credentials.clone().unwrap();
        assert_eq!(
            (creds.user.as_str(), creds.password.as_str()),
            ("alice", "p@ss")
        );
        assert!(!format!("{creds:?}").contains("p@ss"));
        assert_eq!(e.protocol(), Protocol::Imap);
    }

    #[test]
    fn rejects_urls_without_showing_their_password() {
        for (text, password) in [
            ("imap://alice:pa/ss@127.0.0.1", "pa/ss"),
            ("imap://alice:p?w#d@127.0.0.1:99999", "p?w#d"),
            ("imap://alice:p@ss:x@127.0.0.1/path", "p@ss:x"),
            ("imapx://alice:Zq9%5CHunter2@127.0.0.1", "Zq9%5CHunter2"),
            ("imap://alice:Zq9\\Hunter\"2@[::1", "Zq9\\Hunter\"2"),
        ] {
            let message = TargetSpec::parse(text).unwrap_err().to_string();
            assert!(!message.contains(password), "{message}");
            assert!(message.contains("alice:<redacted>@"), "{message}");
        }
    }

    #[test]
    fn can_parse_whole_hosts() {
        assert_eq!(
            TargetSpec::parse("host:mail.example.org"),
            Ok(TargetSpec::Host("mail.example.org".into()))
        );
        assert_eq!(
            TargetSpec::parse("host:127.0.0.1"),
            Ok(TargetSpec::Host("127.0.0.1".into()))
        );
        assert_eq!(
            TargetSpec::parse("host:[::1]"),
            Ok(TargetSpec::Host("[::1]".into()))
        );
    }

    #[test]
    fn can_parse_embedded_with_flaws() {
        assert_eq!(
            TargetSpec::parse("embedded"),
            Ok(TargetSpec::Embedded(EmbeddedSpec::default()))
        );
        let Ok(TargetSpec::Embedded(spec)) =
            TargetSpec::parse("embedded:flaws=no-starttls,plaintext-auth")
        else {
            panic!()
        };
        let flaws = spec.flaws;
        assert!(flaws.contains(Flaw::NoStarttls) && flaws.contains(Flaw::PlaintextAuth));
        assert!(spec.behaviours.is_empty());
    }

    #[test]
    fn can_parse_embedded_with_behaviours() {
        let flaws = Flaws::from(Flaw::BareLfData);
        let behaviours: Behaviours = [Behaviour::Tarpit, Behaviour::DropReadAhead]
            .into_iter()
            .collect();
        for (text, expected) in [
            (
                "embedded:behaviours=tarpit,drop-read-ahead",
                EmbeddedSpec {
                    flaws: Flaws::default(),
                    behaviours,
                },
            ),
            (
                "embedded:flaws=bare-lf-data:behaviours=tarpit,drop-read-ahead",
                EmbeddedSpec { flaws, behaviours },
            ),
            (
                "embedded:behaviours=drop-read-ahead,tarpit:flaws=bare-lf-data",
                EmbeddedSpec { flaws, behaviours },
            ),
            ("embedded:flaws=:behaviours=", EmbeddedSpec::default()),
        ] {
            assert_eq!(
                TargetSpec::parse(text),
                Ok(TargetSpec::Embedded(expected)),
                "{text}"
            );
        }
    }

    #[test]
    fn can_round_trip_embedded_specs() {
        let all_behaviours: Behaviours = Behaviour::ALL.into_iter().collect();
        for text in [
            "embedded",
            "embedded:flaws=no-starttls,plaintext-auth",
            "embedded:behaviours=conn-cap,busy",
            "embedded:flaws=bare-lf-data:behaviours=greylist",
        ] {
            let Ok(TargetSpec::Embedded(spec)) = TargetSpec::parse(text) else {
                panic!("{text}")
            };
            assert_eq!(spec.to_string(), text);
        }
        let spec = EmbeddedSpec {
            flaws: Flaw::ALL.into_iter().collect(),
            behaviours: all_behaviours,
        };
        assert_eq!(
            TargetSpec::parse(&spec.to_string()),
            Ok(TargetSpec::Embedded(spec))
        );
    }

    #[test]
    fn rejects_unknown_behaviour() {
        for text in [
            "embedded:behaviours=tarpit,patience",
            "embedded:flaws=no-starttls:behaviours=patience",
        ] {
            let err = TargetSpec::parse(text).unwrap_err();
            assert!(matches!(err, TargetError::Behaviour { .. }), "{err:?}");
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("`{text}`: unknown behaviour `patience`")),
                "{message}"
            );
            assert!(
                message.contains("valid behaviours: small-backlog,"),
                "{message}"
            );
        }
        for text in [
            "embedded:behaviours=tarpit:behaviours=busy",
            "embedded:flaws=:flaws=",
            "embedded:behaviors=tarpit",
        ] {
            assert!(
                matches!(TargetSpec::parse(text), Err(TargetError::Embedded { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_targets_with_reasons() {
        let errors: Vec<String> = [
            "smtp://",
            "gopher://x",
            "smtp://host/path",
            "embedded:flaws=nonsense",
            "embedded:behaviours=nonsense",
            "embedded:nope",
            "embedded:flaws=tls12-only:flaws=expired-cert",
            "container:",
            "host:",
            "host:mail.example.org:25",
            "not a url",
            "smtp://bob:hunter2@host:99999",
        ]
        .iter()
        .map(|t| TargetSpec::parse(t).unwrap_err().to_string())
        .collect();
        assert!(errors.iter().all(|e| !e.contains("hunter2")), "{errors:#?}");
        insta::assert_snapshot!(errors.join("\n"));
    }
}
