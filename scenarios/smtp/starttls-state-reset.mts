# After STARTTLS the server must forget everything it learned in cleartext:
# EHLO, MAIL FROM, RCPT TO (RFC 3207 §4.2). A transaction begun before TLS and
# finished inside it mixes what an attacker wrote with what the client wrote.
id: smtp.starttls.state-reset
title: SMTP transaction state is reset by STARTTLS
protocol: smtp
severity: medium
references: RFC 3207 §4.2
needs: starttls
pass: a RCPT TO right after STARTTLS is refused for want of MAIL FROM: the state was reset

S: 220                    else error "the server did not greet with 220"
C: EHLO ${client}
S: 250                    else error "EHLO was refused"
CAP: has STARTTLS         else skip "STARTTLS not offered, nothing to test"
C: MAIL FROM:<>
S: 250                    else skip if 4xx|5xx "MAIL FROM was refused before TLS, so no state could cross the upgrade"
C: STARTTLS
S: 220                    else pass if 4xx|5xx "STARTTLS is refused inside a mail transaction, so no transaction state can cross the upgrade"
TLS                       else error "the TLS handshake after STARTTLS failed"
C: RCPT TO:<postmaster>
S: 503                    else fail if 2xx "the server kept the MAIL FROM given before STARTTLS"
