# STLS is valid only in the AUTHORIZATION state (RFC 2595 §4): after a
# cleartext login it must be refused, or the login crosses into TLS.
id: pop3.starttls.no-session-fixation
title: STLS is refused after a cleartext login, so no login crosses into TLS
protocol: pop3
severity: high
references: RFC 2595 §4
needs: starttls, credentials
pass: STLS is refused after a cleartext login

S: +OK                    else error "the server did not greet with +OK"
C: USER ${user}
S: +OK                    else pass if -ERR "USER is refused before TLS, so there is no login to carry into TLS"
C: PASS ${password}
S: +OK                    else pass if -ERR "a cleartext login is refused, so there is no login to carry into TLS"
C: STLS
S: -ERR                   else fail if +OK "STLS is accepted after a cleartext login: the login can cross into TLS"
C: QUIT
