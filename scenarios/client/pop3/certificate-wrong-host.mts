id: client.pop3.certificate-wrong-host
title: The client refuses a certificate for another host name
protocol: pop3
severity: high
references: RFC 8314 §4, RFC 6125, NO STARTTLS (USENIX Security 2021)
certificate: wrong-host
pass: the client refused a certificate for another host name

S: +OK ${host} POP3 ready
C: CAPA                    else error "the client did not ask for the capabilities"
S: +OK Capability list follows
S+ STLS
S+ USER
S+ SASL PLAIN
S+ .
C: STLS else fail "the client went on without TLS although STLS was offered"
S: +OK Begin TLS negotiation
TLS else pass "the client refused a certificate for another host name"
C: never USER|PASS|APOP|AUTH|STAT|LIST|RETR|UIDL|TOP|DELE else fail "the client accepted a certificate for another host name and sent credentials or a mailbox command"
