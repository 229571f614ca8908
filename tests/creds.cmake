# creds tests
moat_test(test_creds SOURCES unit/test_creds.c LIBS moat_creds)
