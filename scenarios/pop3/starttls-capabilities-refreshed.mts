# Inside TLS the server must not offer STLS again and must refuse a second one
# (RFC 2595 §4: STLS is valid only in the AUTHORIZATION state before TLS).
id: pop3.starttls.capabilities-refreshed
title: Capabilities are refreshed after STLS, and a second STLS is refused
protocol: pop3
severity: medium
references: RFC 2595 §4, RFC 2449 §6
needs: starttls
pass: STLS is gone from CAPA inside TLS, and a second STLS is refused

S: +OK                    else error "the server did not greet with +OK"
C: CAPA
S: +OK                    else error "CAPA was refused"
CAP: has STLS             else skip "STLS not offered, nothing to test"
C: STLS
S: +OK                    else skip if -ERR "STLS was refused, nothing to test"
TLS                       else error "the TLS handshake after STLS failed"
C: CAPA
S: +OK                    else error "CAPA was refused inside TLS"
CAP: lacks STLS           else fail "the server still offers STLS inside TLS"
C: STLS
S: -ERR                   else fail if +OK "the server accepted a second STLS inside TLS"
