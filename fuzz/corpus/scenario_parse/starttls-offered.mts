# A server that supports STARTTLS lists it in its EHLO reply (RFC 3207 §4); a
# server that does not leaves every message to and from it readable on the path.
id: smtp.starttls.offered
title: STARTTLS is offered in the EHLO reply
protocol: smtp
severity: high
needs: starttls
references: RFC 3207 §4, RFC 8314 §3
pass: STARTTLS is advertised in the EHLO reply

S: 220                    else error "the server did not greet with 220"
C: EHLO ${client}
S: 250                    else error "EHLO was refused"
CAP: has STARTTLS         else fail "STARTTLS is not offered: mail to and from this server travels in cleartext"
C: QUIT
