# STARTTLS leads to a TLS session in which the server goes on answering.
id: imap.starttls.handshake
title: STARTTLS leads to a working TLS session
protocol: imap
severity: high
references: RFC 9051 §6.2.1, RFC 2595 §3.1
needs: starttls
pass: STARTTLS accepted, TLS established, CAPABILITY answered inside TLS

S: * OK                   else error "the server did not greet with * OK"
C: ${tag}1 CAPABILITY
S: ${tag}1 OK             else error "CAPABILITY was refused"
CAP: has STARTTLS         else skip "STARTTLS not offered, nothing to test"
C: ${tag}2 STARTTLS
S: ${tag}2 OK             else fail if ${tag}2 NO|BAD "STARTTLS is advertised but refused"
TLS                       else fail "the TLS handshake after STARTTLS failed"
C: ${tag}3 CAPABILITY
S: ${tag}3 OK             else fail if ${tag}3 NO|BAD "the server refuses CAPABILITY inside TLS"
C: ${tag}4 LOGOUT
