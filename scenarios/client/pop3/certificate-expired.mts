id: client.pop3.certificate-expired
title: The client refuses an expired certificate
protocol: pop3
severity: high
references: RFC 8314 §4, RFC 6125, NO STARTTLS (USENIX Security 2021)
certificate: expired
pass: the client refused an expired certificate

S: +OK ${host} POP3 ready
C: CAPA                    else error "the client did not ask for the capabilities"
S: +OK Capability list follows
S+ STLS
S+ USER
S+ SASL PLAIN
S+ .
C: STLS else fail "the client went on without TLS although STLS was offered"
S: +OK Begin TLS negotiation
TLS else pass "the client refused an expired certificate"
C: never USER|PASS|APOP|AUTH|STAT|LIST|RETR|UIDL|TOP|DELE else fail "the client accepted an expired certificate and sent credentials or a mailbox command"
