# STARTTLS after a cleartext login must be refused (RFC 2595 §4, RFC 9051
# §6.2.1: only in the not-authenticated state); accepting it lets a session an
# attacker logged in look protected, or keeps a login made in the clear.
id: imap.starttls.no-session-fixation
title: STARTTLS is refused after a cleartext login, so no login crosses into TLS
protocol: imap
severity: high
references: RFC 2595 §4, RFC 9051 §6.2.1
needs: starttls, credentials
pass: STARTTLS is refused after a cleartext login

S: * OK                   else error "the server did not greet with * OK"
C: ${tag}1 LOGIN ${user:astring} ${password:astring}
S: ${tag}1 OK             else pass if ${tag}1 NO|BAD "a cleartext LOGIN is refused, so there is no login to carry into TLS"
C: ${tag}2 STARTTLS
S: ${tag}2 BAD|NO         else fail if ${tag}2 OK "STARTTLS is accepted after a cleartext login: the login can cross into TLS"
C: ${tag}3 LOGOUT
