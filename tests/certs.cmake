# certs tests
