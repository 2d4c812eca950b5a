id: client.smtp.starttls-response-injection
title: The client does not believe replies injected before the TLS handshake
protocol: smtp
severity: high
references: RFC 3207 §4, CVE-2021-22947, CVE-2021-33515, NO STARTTLS (USENIX Security 2021)
pass: the client waited for the answer inside TLS

S: 220 ${host} ESMTP mailtls
C: EHLO|HELO                else error "the client did not greet with EHLO or HELO"
S: 250-${host}
S+ 250-STARTTLS
S+ 250 AUTH PLAIN LOGIN
C: STARTTLS else fail "the client went on without TLS although STARTTLS was offered"
S: 220 2.0.0 Ready to start TLS
# Forged in the same segment as the go-ahead: a vulnerable client reads it inside TLS.
S+ 250-${host}
S+ 250 AUTH PLAIN LOGIN
TLS else pass "the client refused to go on with data pending after the go-ahead"
C: /./                      else error "the client sent nothing inside TLS"
C: silence 300ms else fail "the client sent its next command before the server answered: it believed the reply injected before TLS"
