
no tests ran in 0.57s
