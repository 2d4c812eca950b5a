id: client.pop3.starttls-response-injection
title: The client does not believe replies injected before the TLS handshake
protocol: pop3
severity: high
references: RFC 2595 §4, CVE-2021-22947, CVE-2021-33515, NO STARTTLS (USENIX Security 2021)
pass: the client waited for the answer inside TLS

S: +OK ${host} POP3 ready
C: CAPA                    else error "the client did not ask for the capabilities"
S: +OK Capability list follows
S+ STLS
S+ USER
S+ SASL PLAIN
S+ .
C: STLS else fail "the client went on without TLS although STLS was offered"
S: +OK Begin TLS negotiation
# Forged in the same segment as the go-ahead: a vulnerable client reads it inside TLS.
S+ +OK injected
S+ .
TLS else pass "the client refused to go on with data pending after the go-ahead"
C: /./                      else error "the client sent nothing inside TLS"
C: silence 300ms else fail "the client sent its next command before the server answered: it believed the reply injected before TLS"
