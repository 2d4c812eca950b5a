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
RAW+ NOOP\x20
S: 220                    else pass if 4xx|5xx "STARTTLS with a pipelined partial line was refused, so nothing could be carried into TLS"
TLS                       else pass "the handshake broke on the pipelined bytes (the server fed them to TLS), so nothing was carried into TLS as a command"
# The partial line is `NOOP ` (with its space): joined to QUIT it makes `NOOP QUIT`,
# a NOOP with an argument, answered 250 (RFC 5321 §4.1.1.9) or, by a server that
# takes RFC 821's NOOP without arguments, 501. A plain QUIT is answered 221 and
# never 250 or 501, so either is the joined line's answer.
C: QUIT
S: 221                    else fail if 250|501 "the server joined the partial line injected with STARTTLS to the first command inside TLS"
