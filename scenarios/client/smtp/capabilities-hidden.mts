id: client.smtp.capabilities-hidden
title: The client does not go on in cleartext when the capabilities are hidden
protocol: smtp
severity: high
references: RFC 3207 §4, NO STARTTLS (USENIX Security 2021)
pass: the client sent no credentials or mail without TLS

S: 220 ${host} ESMTP mailtls
C: EHLO|HELO                else error "the client did not greet with EHLO or HELO"
S: 502 5.5.2 Command not recognized
C: never AUTH|MAIL|RCPT|DATA else fail "the client sent credentials or mail in cleartext when the capabilities were hidden"
