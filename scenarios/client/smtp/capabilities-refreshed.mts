id: client.smtp.capabilities-refreshed
title: The client asks for the capabilities again inside TLS
protocol: smtp
severity: medium
references: RFC 3207 §4.2, NO STARTTLS (USENIX Security 2021)
pass: the client sent EHLO again inside TLS

S: 220 ${host} ESMTP mailtls
C: EHLO|HELO                else error "the client did not greet with EHLO or HELO"
S: 250-${host}
S+ 250-STARTTLS
S+ 250 AUTH PLAIN LOGIN
C: STARTTLS else fail "the client went on without TLS although STARTTLS was offered"
S: 220 2.0.0 Ready to start TLS
TLS else error "the TLS handshake failed"
C: EHLO|HELO else fail "the client went on inside TLS without asking for the capabilities again"
