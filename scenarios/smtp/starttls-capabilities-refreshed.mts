# After the handshake the server must not offer STARTTLS again, and must refuse a
# second one (RFC 3207 §4.2): a stale capability list is what lets a client be
# steered by what an attacker saw or wrote before TLS.
id: smtp.starttls.capabilities-refreshed
title: Capabilities are refreshed after STARTTLS, and a second STARTTLS is refused
protocol: smtp
severity: medium
references: RFC 3207 §4.2
needs: starttls
pass: STARTTLS is gone from the EHLO reply inside TLS, and a second STARTTLS is refused

S: 220                    else error "the server did not greet with 220"
C: EHLO ${client}
S: 250                    else error "EHLO was refused"
CAP: has STARTTLS         else skip "STARTTLS not offered, nothing to test"
C: STARTTLS
S: 220                    else skip if 4xx|5xx "STARTTLS was refused, nothing to test"
TLS                       else error "the TLS handshake after STARTTLS failed"
C: EHLO ${client}
S: 250                    else error "EHLO was refused inside TLS"
CAP: lacks STARTTLS       else fail "the server still offers STARTTLS inside TLS"
C: STARTTLS
S: 4xx|5xx                else fail if 2xx "the server accepted a second STARTTLS inside TLS"
