# STARTTLS leads to a TLS session in which the server goes on answering (RFC 3207 §4.2).
id: smtp.starttls.handshake
title: STARTTLS leads to a working TLS session
protocol: smtp
severity: high
references: RFC 3207 §4, RFC 3207 §4.2
needs: starttls
pass: STARTTLS accepted, TLS established, EHLO answered inside TLS

S: 220                    else error "the server did not greet with 220"
C: EHLO ${client}
S: 250                    else error "EHLO was refused"
CAP: has STARTTLS         else skip "STARTTLS not offered, nothing to test"
C: STARTTLS
S: 220                    else fail if 4xx|5xx "STARTTLS is advertised but refused"
TLS                       else fail "the TLS handshake after STARTTLS failed"
C: EHLO ${client}
S: 250                    else fail if 4xx|5xx "the server refuses EHLO inside TLS"
C: QUIT
