# A command slipped in on its own segment after the go-ahead, before the
# ClientHello, must not run inside TLS either. The injected command is CAPA,
# answered +OK; our first command inside TLS is one no server knows, answered
# -ERR, so only the injected CAPA can put a +OK first.
id: pop3.starttls.injection-split
title: A command injected between the STLS go-ahead and the ClientHello is not executed inside TLS
protocol: pop3
severity: high
references: RFC 2595 §4, CVE-2011-0411
needs: starttls
pass: the command injected after the go-ahead was not executed inside TLS

S: +OK                    else error "the server did not greet with +OK"
C: CAPA
S: +OK                    else error "CAPA was refused"
CAP: has STLS             else skip "STLS not offered, nothing to test"
C: STLS
S: +OK                    else skip if -ERR "STLS was refused, nothing to test"
C: CAPA
TLS                       else pass "the handshake broke on the injected bytes, so nothing was carried into TLS"
C: XMAILTLS-PROBE
S: -ERR                   else fail if +OK "the server answered the command injected before the ClientHello inside TLS"
C: QUIT
