# A mailbox server must not let anyone log in before TLS (RFC 8314 §3): with
# valid credentials, LOGIN before TLS must fail.
id: imap.tls.required
title: No login is accepted before TLS
protocol: imap
severity: high
references: RFC 8314 §3, RFC 9051 §6.2.3, RFC 2595 §3.2
needs: starttls, credentials
policies: submission, mailbox, strict
pass: LOGIN with valid credentials is refused before TLS

S: * OK                   else error "the server did not greet with * OK"
C: ${tag}1 LOGIN ${user:astring} ${password:astring}
S: ${tag}1 NO|BAD         else fail if ${tag}1 OK "LOGIN with valid credentials succeeds before TLS"
C: ${tag}2 LOGOUT
