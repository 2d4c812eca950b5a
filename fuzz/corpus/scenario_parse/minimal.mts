id: fuzz.seed
title: t
protocol: smtp
severity: low
pass: p

S: 220 else error "x"
C: EHLO ${client}
S: 250 else fail if 5xx "y"
