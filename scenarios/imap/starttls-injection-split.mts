# A command slipped in on its own segment after the go-ahead, before the
# ClientHello, must not run inside TLS either.
id: imap.starttls.injection-split
title: A command injected between the STARTTLS go-ahead and the ClientHello is not executed inside TLS
protocol: imap
severity: high
references: RFC 9051 §6.2.1, RFC 2595 §3.1, CVE-2011-0411
needs: starttls
pass: the NOOP injected after the go-ahead was not executed inside TLS

S: * OK                   else error "the server did not greet with * OK"
C: ${tag}1 CAPABILITY
S: ${tag}1 OK             else error "CAPABILITY was refused"
CAP: has STARTTLS         else skip "STARTTLS not offered, nothing to test"
C: ${tag}2 STARTTLS
S: ${tag}2 OK             else skip if ${tag}2 NO|BAD "STARTTLS was refused, nothing to test"
C: ${tag}9 NOOP
TLS                       else pass "the handshake broke on the injected bytes, so nothing was carried into TLS"
C: ${tag}3 NOOP
S: ${tag}3 OK             else fail if ${tag}9 OK|NO|BAD "the server answered the NOOP injected before the ClientHello inside TLS"
C: ${tag}4 LOGOUT
