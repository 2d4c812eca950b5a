# A POP3 server that supports STLS lists it in CAPA (RFC 2595 §4, RFC 2449 §5).
id: pop3.starttls.offered
title: STLS is offered in the CAPA list
protocol: pop3
severity: high
needs: starttls
references: RFC 2595 §4, RFC 2449 §5, RFC 8314 §3
pass: STLS is advertised before TLS

S: +OK                    else error "the server did not greet with +OK"
C: CAPA
S: +OK                    else fail if -ERR "CAPA is refused, so STLS cannot be advertised (RFC 2449)"
CAP: has STLS             else fail "STLS is not offered: mailbox access to this server travels in cleartext"
C: QUIT
