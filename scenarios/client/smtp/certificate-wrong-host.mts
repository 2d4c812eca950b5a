id: client.smtp.certificate-wrong-host
title: The client refuses a certificate for another host name
protocol: smtp
severity: high
references: RFC 8314 §4, RFC 6125, NO STARTTLS (USENIX Security 2021)
certificate: wrong-host
pass: the client refused a certificate for another host name

S: 220 ${host} ESMTP mailtls
C: EHLO|HELO                else error "the client did not greet with EHLO or HELO"
S: 250-${host}
S+ 250-STARTTLS
S+ 250 AUTH PLAIN LOGIN
C: STARTTLS else fail "the client went on without TLS although STARTTLS was offered"
S: 220 2.0.0 Ready to start TLS
TLS else pass "the client refused a certificate for another host name"
C: never AUTH|MAIL|RCPT|DATA else fail "the client accepted a certificate for another host name and sent credentials or mail"
