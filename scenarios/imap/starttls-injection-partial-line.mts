# A partial command pipelined with STARTTLS must not be completed by the
# client's first command inside TLS.
id: imap.starttls.injection-partial-line
title: A partial line pipelined with STARTTLS is not joined to the first command inside TLS
protocol: imap
severity: high
references: RFC 9051 §6.2.1, RFC 2595 §3.1, CVE-2011-0411
needs: starttls
pass: the partial line sent with STARTTLS was discarded at the TLS upgrade

S: * OK                   else error "the server did not greet with * OK"
C: ${tag}1 CAPABILITY
S: ${tag}1 OK             else error "CAPABILITY was refused"
CAP: has STARTTLS         else skip "STARTTLS not offered, nothing to test"
C: ${tag}2 STARTTLS
RAW+ ${tag}9 NOOP
S: ${tag}2 OK             else pass if ${tag}2 NO|BAD "STARTTLS with a pipelined partial line was refused, so nothing could be carried into TLS"
TLS                       else pass "the handshake broke on the pipelined bytes (the server fed them to TLS), so nothing was carried into TLS as a command"
C: ${tag}3 NOOP
S: ${tag}3 OK             else fail if ${tag}9 OK|NO|BAD "the server joined the partial line injected with STARTTLS to the first command inside TLS"
C: ${tag}4 LOGOUT
