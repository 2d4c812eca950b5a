# A partial command pipelined with STLS must not be completed by the client's
# first command inside TLS. Joined, the partial `CAP` and our first line inside
# TLS, `A`, make CAPA, answered +OK; `A` alone is a command no server knows,
# answered -ERR. So a +OK can only come from the joined line, and a server that
# answers everything with `-ERR busy` never looks vulnerable.
id: pop3.starttls.injection-partial-line
title: A partial line pipelined with STLS is not joined to the first command inside TLS
protocol: pop3
severity: high
references: RFC 2595 §4, CVE-2011-0411
needs: starttls
pass: the partial line sent with STLS was discarded at the TLS upgrade

S: +OK                    else error "the server did not greet with +OK"
C: CAPA
S: +OK                    else error "CAPA was refused"
CAP: has STLS             else skip "STLS not offered, nothing to test"
C: STLS
RAW+ CAP
S: +OK                    else pass if -ERR "STLS with a pipelined partial line was refused, so nothing could be carried into TLS"
TLS                       else pass "the handshake broke on the pipelined bytes (the server fed them to TLS), so nothing was carried into TLS as a command"
C: A
S: -ERR                   else fail if +OK "the server joined the partial line injected with STLS to the first command inside TLS"
C: QUIT
