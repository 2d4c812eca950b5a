# Before TLS an IMAP server must disable LOGIN (LOGINDISABLED, RFC 9051 §6.2.3)
# and offer no password SASL mechanism, or clients send passwords in cleartext.
id: imap.auth.no-plaintext-before-tls
title: LOGIN is disabled and no plaintext SASL mechanism is offered before TLS
protocol: imap
severity: high
references: RFC 9051 §6.2.3, RFC 2595 §3.2, RFC 8314 §3
needs: starttls
pass: LOGINDISABLED is advertised and neither AUTH=PLAIN nor AUTH=LOGIN is offered before TLS

S: * OK                   else error "the server did not greet with * OK"
C: ${tag}1 CAPABILITY
S: ${tag}1 OK             else error "CAPABILITY was refused"
CAP: has LOGINDISABLED    else fail "LOGIN is allowed before TLS (no LOGINDISABLED): passwords can be sent in cleartext"
CAP: lacks AUTH PLAIN     else fail "AUTHENTICATE PLAIN is offered before TLS: passwords can be sent in cleartext"
CAP: lacks AUTH LOGIN     else fail "AUTHENTICATE LOGIN is offered before TLS: passwords can be sent in cleartext"
C: ${tag}2 LOGOUT
