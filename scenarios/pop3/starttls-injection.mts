# A command pipelined with STLS in one segment must be discarded at the TLS
# upgrade, not executed inside TLS (CVE-2011-0411 class, in POP3 servers too).
# The injected command is one no server knows, so its answer is a certain -ERR,
# where a clean server's first words inside TLS are +OK for our QUIT: before login
# +OK is QUIT's only answer (RFC 1939 §4), so a -ERR first can only be the
# injected command's. (Injecting CAPA instead would be worse: its +OK would pass
# for QUIT's.) A close, a 421-like goodbye or an unreadable reply is `error`.
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
C+ XMAILTLS-INJECTED
S: +OK                    else pass if -ERR "STLS with a pipelined command was refused, so nothing could be carried into TLS"
TLS                       else pass "the handshake broke on the pipelined bytes (the server fed them to TLS), so nothing was carried into TLS as a command"
C: QUIT
S: +OK                    else fail if -ERR "the server answered the injected command inside TLS"
