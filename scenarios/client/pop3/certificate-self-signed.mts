id: client.pop3.certificate-self-signed
title: The client refuses a self-signed certificate
protocol: pop3
severity: high
references: RFC 8314 §4, RFC 6125, NO STARTTLS (USENIX Security 2021)
certificate: self-signed
pass: the client refused a self-signed certificate

S: +OK ${host} POP3 ready
C: CAPA                    else error "the client did not ask for the capabilities"
S: +OK Capability list follows
S+ STLS
S+ USER
S+ SASL PLAIN
S+ .
C: STLS else fail "the client went on without TLS although STLS was offered"
S: +OK Begin TLS negotiation
TLS else pass "the client refused a self-signed certificate"
C: never USER|PASS|APOP|AUTH|STAT|LIST|RETR|UIDL|TOP|DELE else fail "the client accepted a self-signed certificate and sent credentials or a mailbox command"
