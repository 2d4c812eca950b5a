id: client.pop3.certificate-unknown-ca
title: The client refuses a certificate from an unknown CA
protocol: pop3
severity: high
references: RFC 8314 §4, RFC 6125, NO STARTTLS (USENIX Security 2021)
certificate: unknown-ca
pass: the client refused a certificate from an unknown CA

S: +OK ${host} POP3 ready
C: CAPA                    else error "the client did not ask for the capabilities"
S: +OK Capability list follows
S+ STLS
S+ USER
S+ SASL PLAIN
S+ .
C: STLS else fail "the client went on without TLS although STLS was offered"
S: +OK Begin TLS negotiation
TLS else pass "the client refused a certificate from an unknown CA"
C: never USER|PASS|APOP|AUTH|STAT|LIST|RETR|UIDL|TOP|DELE else fail "the client accepted a certificate from an unknown CA and sent credentials or a mailbox command"
