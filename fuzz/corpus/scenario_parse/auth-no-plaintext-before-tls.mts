# A password mechanism offered before TLS invites clients to send the password in
# cleartext (RFC 4954 §4; RFC 8314 §3 wants TLS before any authentication).
id: smtp.auth.no-plaintext-before-tls
title: No plaintext AUTH mechanism is offered before TLS
protocol: smtp
severity: high
references: RFC 4954 §4, RFC 8314 §3
needs: starttls
pass: neither AUTH PLAIN nor AUTH LOGIN is offered before TLS

S: 220                    else error "the server did not greet with 220"
C: EHLO ${client}
S: 250                    else error "EHLO was refused"
CAP: lacks AUTH PLAIN     else fail "AUTH PLAIN is offered before TLS: passwords can be sent in cleartext"
CAP: lacks AUTH LOGIN     else fail "AUTH LOGIN is offered before TLS: passwords can be sent in cleartext"
C: QUIT
