# STLS leads to a TLS session in which the server goes on answering.
id: pop3.starttls.handshake
title: STLS leads to a working TLS session
protocol: pop3
severity: high
references: RFC 2595 §4
needs: starttls
pass: STLS accepted, TLS established, CAPA answered inside TLS

S: +OK                    else error "the server did not greet with +OK"
C: CAPA
S: +OK                    else error "CAPA was refused"
CAP: has STLS             else skip "STLS not offered, nothing to test"
C: STLS
S: +OK                    else fail if -ERR "STLS is advertised but refused"
TLS                       else fail "the TLS handshake after STLS failed"
C: CAPA
S: +OK                    else fail if -ERR "the server refuses CAPA inside TLS"
C: QUIT
