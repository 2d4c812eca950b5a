# Inside TLS the server must not offer STARTTLS again and must refuse a second one
# (RFC 9051 §6.2.1: STARTTLS is valid only before TLS; RFC 2595 §3.1).
id: imap.starttls.capabilities-refreshed
title: Capabilities are refreshed after STARTTLS, and a second STARTTLS is refused
protocol: imap
severity: medium
references: RFC 9051 §6.2.1, RFC 2595 §3.1
needs: starttls
pass: STARTTLS is gone from CAPABILITY inside TLS, and a second STARTTLS is refused

S: * OK                   else error "the server did not greet with * OK"
C: ${tag}1 CAPABILITY
S: ${tag}1 OK             else error "CAPABILITY was refused"
CAP: has STARTTLS         else skip "STARTTLS not offered, nothing to test"
C: ${tag}2 STARTTLS
S: ${tag}2 OK             else skip if ${tag}2 NO|BAD "STARTTLS was refused, nothing to test"
TLS                       else error "the TLS handshake after STARTTLS failed"
C: ${tag}3 CAPABILITY
S: ${tag}3 OK             else error "CAPABILITY was refused inside TLS"
CAP: lacks STARTTLS       else fail "the server still offers STARTTLS inside TLS"
C: ${tag}4 STARTTLS
S: ${tag}4 BAD|NO         else fail if ${tag}4 OK "the server accepted a second STARTTLS inside TLS"
