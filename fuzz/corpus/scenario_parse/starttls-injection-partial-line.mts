# The injected bytes need not be a whole line: a partial command pipelined with
# STARTTLS, kept by a server that discards only complete lines, is completed by
# the client's first command inside TLS.
id: smtp.starttls.injection-partial-line
title: A partial line pipelined with STARTTLS is not joined to the first command inside TLS
protocol: smtp
severity: high
references: RFC 3207 §4.2, CVE-2011-0411
needs: starttls
pass: the partial line sent with STARTTLS was discarded at the TLS upgrade

S: 220                    else error "the server did not greet with 220"
C: EHLO ${client}
S: 250                    else error "EHLO was refused"
CAP: has STARTTLS         else skip "STARTTLS not offered, nothing to test"
C: STARTTLS
RAW+ NOOP
S: 220                    else pass "STARTTLS with a pipelined partial line was refused, so nothing could be carried into TLS"
TLS                       else error "the TLS handshake after STARTTLS failed"
C: QUIT
S: 221                    else fail "the server joined the partial line injected with STARTTLS to the first command inside TLS"
