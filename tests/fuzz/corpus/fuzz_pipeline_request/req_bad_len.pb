
a"uci*
prediction:	127.0.0.1