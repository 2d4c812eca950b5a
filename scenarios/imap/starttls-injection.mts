# A command pipelined with STARTTLS in one segment must be discarded at the TLS
# upgrade, not executed inside TLS (CVE-2011-0411 class; the NO STARTTLS study,
# USENIX Security 2021, found it in IMAP servers too). Tags make the proof exact:
# the injected NOOP has its own tag, and any answer bearing it inside TLS is the flaw.
id: imap.starttls.injection
title: Commands pipelined with STARTTLS are not executed inside TLS
protocol: imap
severity: high
references: RFC 9051 §6.2.1, RFC 2595 §3.1, CVE-2011-0411, CVE-2011-1926
needs: starttls
pass: the NOOP sent in one segment with STARTTLS was not executed inside TLS

S: * OK                   else error "the server did not greet with * OK"
C: ${tag}1 CAPABILITY
S: ${tag}1 OK             else error "CAPABILITY was refused"
CAP: has STARTTLS         else skip "STARTTLS not offered, nothing to test"
C: ${tag}2 STARTTLS
C+ ${tag}9 NOOP
S: ${tag}2 OK             else pass if ${tag}2 NO|BAD "STARTTLS with a pipelined command was refused, so nothing could be carried into TLS"
TLS                       else pass "the handshake broke on the pipelined bytes (the server fed them to TLS), so nothing was carried into TLS as a command"
C: ${tag}3 NOOP
S: ${tag}3 OK             else fail if ${tag}9 OK|NO|BAD "the server answered the injected NOOP inside TLS"
C: ${tag}4 LOGOUT
