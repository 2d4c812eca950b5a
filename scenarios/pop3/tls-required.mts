# A mailbox server must not let anyone log in before TLS (RFC 8314 §3): with
# valid credentials, USER/PASS before TLS must fail.
id: pop3.tls.required
title: No login is accepted before TLS
protocol: pop3
severity: high
references: RFC 8314 §3, RFC 2595 §2.1
needs: starttls, credentials
policies: submission, mailbox, strict
pass: USER/PASS with valid credentials is refused before TLS

S: +OK                    else error "the server did not greet with +OK"
C: USER ${user}
S: +OK|-ERR
C: PASS ${password}
S: -ERR                   else fail if +OK "USER/PASS with valid credentials succeeds before TLS"
C: QUIT
