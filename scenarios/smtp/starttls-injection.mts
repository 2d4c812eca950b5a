# A man in the middle appends a command to the client's STARTTLS, in the same TCP
# segment. A server that keeps those buffered plaintext bytes and reads them after
# the handshake executes the attacker's command inside the client's TLS session
# (CVE-2011-0411, Postfix; the same class hit many servers since).
id: smtp.starttls.injection
title: Commands pipelined with STARTTLS are not executed inside TLS
protocol: smtp
severity: high
references: RFC 3207 §4.2, CVE-2011-0411, CVE-2021-33515
needs: starttls
pass: the NOOP sent in one segment with STARTTLS was not executed inside TLS

S: 220                    else error "the server did not greet with 220"
C: EHLO ${client}
S: 250                    else error "EHLO was refused"
CAP: has STARTTLS         else skip "STARTTLS not offered, nothing to test"
C: STARTTLS
C+ NOOP
S: 220                    else pass if 4xx|5xx "STARTTLS with a pipelined command was refused, so nothing could be carried into TLS"
TLS                       else pass "the handshake broke on the pipelined bytes (the server fed them to TLS), so nothing was carried into TLS as a command"
# A clean server's first words inside TLS are its answer to QUIT, 221; a
# vulnerable one first answers the injected NOOP with 250, which QUIT never gets.
# Anything else (421, a close, an unreadable reply) shows neither: `error`.
C: QUIT
S: 221                    else fail if 250 "the server answered the injected NOOP inside TLS"
