# An IMAP server that supports STARTTLS lists it in CAPABILITY (RFC 9051 §6.2.1,
# RFC 2595 §3.1); without it, mailbox contents and passwords travel in cleartext.
id: imap.starttls.offered
title: STARTTLS is offered in the CAPABILITY list
protocol: imap
severity: high
needs: starttls
references: RFC 9051 §6.2.1, RFC 2595 §3.1, RFC 8314 §3
pass: STARTTLS is advertised before TLS

S: * OK                   else error "the server did not greet with * OK"
C: ${tag}1 CAPABILITY
S: ${tag}1 OK             else error "CAPABILITY was refused"
CAP: has STARTTLS         else fail "STARTTLS is not offered: mailbox access to this server travels in cleartext"
C: ${tag}2 LOGOUT
