# certs tests (and the proxy's network policy, written by the same helper)
moat_test(test_policy SOURCES unit/test_policy.c LIBS moat_proxy)
