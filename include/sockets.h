// placeholder until the sockets API lands (issue 4)
