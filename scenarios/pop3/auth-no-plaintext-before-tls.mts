# Before TLS a POP3 server should offer neither USER/PASS nor a password SASL
# mechanism, or clients send passwords in cleartext (RFC 2595 §2.1, RFC 8314 §3).
id: pop3.auth.no-plaintext-before-tls
title: No plaintext login (USER, SASL PLAIN/LOGIN) is offered before TLS
protocol: pop3
severity: high
references: RFC 2595 §2.1, RFC 2449 §6.8, RFC 8314 §3
needs: starttls
pass: neither USER nor SASL PLAIN/LOGIN is offered before TLS

S: +OK                    else error "the server did not greet with +OK"
C: CAPA
S: +OK                    else error "CAPA was refused: cannot tell which login methods are offered"
CAP: lacks USER           else fail "USER/PASS is offered before TLS: passwords can be sent in cleartext"
CAP: lacks SASL PLAIN     else fail "SASL PLAIN is offered before TLS: passwords can be sent in cleartext"
CAP: lacks SASL LOGIN     else fail "SASL LOGIN is offered before TLS: passwords can be sent in cleartext"
C: QUIT
