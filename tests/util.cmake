moat_test(test_util SOURCES unit/test_util.c LIBS moat_util)
