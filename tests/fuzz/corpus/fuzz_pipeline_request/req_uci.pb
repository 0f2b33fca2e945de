
x0.0137, -0.1136"uci*
prediction0N:	127.0.0.1