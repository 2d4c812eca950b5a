# A command pipelined with STLS in one segment must be discarded at the TLS
# upgrade, not executed inside TLS (CVE-2011-0411 class, in POP3 servers too).
# The injected command is CAPA, answered +OK; our first command inside TLS is one
# no server knows, answered -ERR. So a +OK first can only be the injected CAPA's
# answer, while a server that answers everything with `-ERR busy` and hangs up
# (as servers under load do) never looks vulnerable. (Injecting an unknown
# command and sending QUIT would make that `-ERR busy` the evidence.) A close or
# an unreadable reply is `error`.
id: pop3.starttls.injection
title: Commands pipelined with STLS are not executed inside TLS
protocol: pop3
severity: high
references: RFC 2595 §4, CVE-2011-0411, CVE-2011-1926
needs: starttls
pass: the command sent in one segment with STLS was not executed inside TLS

S: +OK                    else error "the server did not greet with +OK"
C: CAPA
S: +OK                    else error "CAPA was refused"
CAP: has STLS             else skip "STLS not offered, nothing to test"
C: STLS
C+ CAPA
S: +OK                    else pass if -ERR "STLS with a pipelined command was refused, so nothing could be carried into TLS"
TLS                       else pass "the handshake broke on the pipelined bytes (the server fed them to TLS), so nothing was carried into TLS as a command"
C: XMAILTLS-PROBE
S: -ERR                   else fail if +OK "the server answered the injected CAPA inside TLS"
C: QUIT
