id: client.smtp.starttls-refused
title: The client does not go on in cleartext when STARTTLS is refused
protocol: smtp
severity: high
references: RFC 3207 §4, NO STARTTLS (USENIX Security 2021)
pass: the client sent no credentials or mail after STARTTLS was refused

S: 220 ${host} ESMTP mailtls
C: EHLO|HELO                else error "the client did not greet with EHLO or HELO"
S: 250-${host}
S+ 250-STARTTLS
S+ 250 AUTH PLAIN LOGIN
# The stock replies answer STARTTLS with 454.
C: never AUTH|MAIL|RCPT|DATA else fail "the client sent credentials or mail in cleartext after STARTTLS was refused"
