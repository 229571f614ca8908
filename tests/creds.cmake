# creds tests
moat_test(test_creds SOURCES unit/test_creds.c LIBS moat_creds)
# The real moat binary (MOAT_BIN) through grant/revoke.
moat_test(test_grant SOURCES integ/test_grant.c LIBS moat_creds util)
add_dependencies(test_grant moat)
