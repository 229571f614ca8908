# config tests
moat_test(test_config SOURCES unit/test_config.c LIBS moat_config)
