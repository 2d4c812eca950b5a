# The injected command need not ride in the STARTTLS segment: a man in the middle
# can slip it in on its own, after the server's go-ahead and before the client's
# ClientHello. A server that reads "just a bit more" plaintext before starting
# the handshake then runs it inside the client's TLS session.
id: smtp.starttls.injection-split
title: A command injected between the STARTTLS go-ahead and the ClientHello is not executed inside TLS
protocol: smtp
severity: high
references: RFC 3207 §4.2, CVE-2011-0411
needs: starttls
pass: the NOOP injected after the go-ahead was not executed inside TLS

S: 220                    else error "the server did not greet with 220"
C: EHLO ${client}
S: 250                    else error "EHLO was refused"
CAP: has STARTTLS         else skip "STARTTLS not offered, nothing to test"
C: STARTTLS
S: 220                    else skip if 4xx|5xx "STARTTLS was refused, nothing to test"
C: NOOP
TLS                       else pass "the handshake broke on the injected bytes, so nothing was carried into TLS"
C: QUIT
S: 221                    else fail if 250 "the server answered the NOOP injected before the ClientHello inside TLS"
